//! Parameter values, read the way the AWS CLI (v2) reads them.
//!
//! - Blobs: `fileb://PATH` is the file's raw bytes; `file://PATH` is the file's text, which
//!   like any literal value is base64-decoded.
//! - Maps (encryption context): shorthand `k1=v1,k2=v2`, or JSON `{"k1":"v1"}`, or `file://`.
//! - Tag lists: shorthand `TagKey=k,TagValue=v` per tag, or JSON `[{"TagKey":..,"TagValue":..}]`.
//! - Grant constraints: shorthand `EncryptionContextSubset={k=v,...}` (or `...Equals`), or JSON.
//! - Text (key policies): the value itself, or `file://PATH`'s text.

use std::collections::BTreeMap;
use std::fs;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lockbox::api::{
    EncryptionContext, GrantConstraints, GrantTokens, KeyRef, Plaintext, Principal, Tag,
};
use zeroize::Zeroizing;

use crate::error::CliError;

/// Reads a blob parameter.
pub(crate) fn blob(param: &'static str, value: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    if let Some(path) = value.strip_prefix("fileb://") {
        return fs::read(path)
            .map(Zeroizing::new)
            .map_err(|e| CliError::param(param, format!("Unable to load paramfile {value}: {e}")));
    }
    let text = match value.strip_prefix("file://") {
        Some(path) => Zeroizing::new(fs::read_to_string(path).map_err(|e| {
            CliError::param(param, format!("Unable to load paramfile {value}: {e}"))
        })?),
        None => Zeroizing::new(value.to_owned()),
    };
    STANDARD
        .decode(text.trim())
        .map(Zeroizing::new)
        .map_err(|e| {
            CliError::param(
                param,
                format!("Invalid base64: {e} (use fileb://PATH for raw bytes)"),
            )
        })
}

/// Reads a plaintext parameter straight into a zeroizing buffer.
pub(crate) fn plaintext(param: &'static str, value: &str) -> Result<Plaintext, CliError> {
    let mut bytes = blob(param, value)?;
    Ok(Plaintext::new(std::mem::take(&mut *bytes)))
}

/// Reads a key reference. Malformed references are the engine's errors, not parameter
/// errors, so the AWS error name comes out as AWS would send it.
pub(crate) fn key_ref(operation: &'static str, value: &str) -> Result<KeyRef, CliError> {
    KeyRef::parse(value).map_err(|error| CliError::Kms { operation, error })
}

/// Reads `--grant-tokens`. Too many or over-long tokens are the engine's
/// ValidationException (it names `grantTokens`), as AWS answers them.
pub(crate) fn grant_tokens(
    operation: &'static str,
    values: &[String],
) -> Result<GrantTokens, CliError> {
    GrantTokens::new(values.to_vec()).map_err(|error| CliError::Kms { operation, error })
}

/// Reads an encryption-context parameter.
pub(crate) fn context(
    param: &'static str,
    value: Option<&str>,
) -> Result<EncryptionContext, CliError> {
    let Some(value) = value else {
        return Ok(EncryptionContext::empty());
    };
    let map = pairs(param, &text(param, value)?)?;
    EncryptionContext::new(map).map_err(|e| CliError::param(param, e.message()))
}

/// Reads a grant's `--constraints`: shorthand `EncryptionContextSubset={k1=v1,k2=v2}` and/or
/// `EncryptionContextEquals={...}` (comma-separated), or JSON with those members.
pub(crate) fn constraints(param: &'static str, value: &str) -> Result<GrantConstraints, CliError> {
    const SUBSET: &str = "EncryptionContextSubset";
    const EQUALS: &str = "EncryptionContextEquals";
    let text = text(param, value)?;
    let context =
        |map| EncryptionContext::new(map).map_err(|e| CliError::param(param, e.message()));
    let mut out = GrantConstraints::default();
    if text.trim_start().starts_with('{') {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase", deny_unknown_fields)]
        struct JsonConstraints {
            encryption_context_subset: Option<UniquePairs>,
            encryption_context_equals: Option<UniquePairs>,
        }
        let c: JsonConstraints = serde_json::from_str(&text)
            .map_err(|e| CliError::param(param, format!("Invalid JSON: {e}")))?;
        out.encryption_context_subset = c
            .encryption_context_subset
            .map(|p| context(p.0))
            .transpose()?;
        out.encryption_context_equals = c
            .encryption_context_equals
            .map(|p| context(p.0))
            .transpose()?;
        return Ok(out);
    }
    let expected = || format!("expected {SUBSET}={{k1=v1,k2=v2}} or {EQUALS}={{k1=v1,k2=v2}}");
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| CliError::param(param, format!("Found '{rest}', {}", expected())))?;
        let name = name.trim();
        let slot = match name {
            SUBSET => &mut out.encryption_context_subset,
            EQUALS => &mut out.encryption_context_equals,
            _ => {
                return Err(CliError::param(
                    param,
                    format!("Unknown member '{name}', {}", expected()),
                ));
            }
        };
        // A shorthand map has no nesting: it ends at the first '}'.
        let (inner, after) = after
            .trim_start()
            .strip_prefix('{')
            .and_then(|a| a.split_once('}'))
            .ok_or_else(|| {
                CliError::param(
                    param,
                    format!("The value of {name} must be {{k1=v1,k2=v2}}"),
                )
            })?;
        if slot.is_some() {
            return Err(CliError::param(param, format!("{name} appears twice")));
        }
        *slot = Some(context(shorthand_pairs(param, inner)?)?);
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if after.is_empty() => after,
            None => {
                return Err(CliError::param(
                    param,
                    format!("Found '{after}' after {name}={{...}}, {}", expected()),
                ));
            }
        };
    }
    Ok(out)
}

/// Reads a principal ARN parameter; the message says what is wrong with it.
pub(crate) fn principal(param: &'static str, value: &str) -> Result<Principal, CliError> {
    Principal::parse(value).map_err(|e| CliError::param(param, e.message()))
}

/// Reads a text parameter: the value itself, or the text of the file `file://PATH` names.
pub(crate) fn text(param: &'static str, value: &str) -> Result<String, CliError> {
    match value.strip_prefix("file://") {
        Some(path) => fs::read_to_string(path)
            .map_err(|e| CliError::param(param, format!("Unable to load paramfile {value}: {e}"))),
        None => Ok(value.to_owned()),
    }
}

/// A JSON object of strings whose keys must be unique (serde_json would keep the last of
/// repeated keys silently; the shorthand form refuses them, so this does too).
struct UniquePairs(BTreeMap<String, String>);

impl<'de> serde::Deserialize<'de> for UniquePairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = UniquePairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of string keys and string values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<UniquePairs, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((k, v)) = m.next_entry::<String, String>()? {
                    if map.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!("key '{k}' appears twice")));
                    }
                    map.insert(k, v);
                }
                Ok(UniquePairs(map))
            }
        }
        d.deserialize_map(Pairs)
    }
}

/// Reads a tag-list parameter (one or more values).
pub(crate) fn tags(param: &'static str, values: &[String]) -> Result<Vec<Tag>, CliError> {
    let mut out = Vec::new();
    for value in values {
        let text = text(param, value)?;
        if text.trim_start().starts_with('[') {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct JsonTag {
                tag_key: String,
                tag_value: String,
            }
            let list: Vec<JsonTag> = serde_json::from_str(&text)
                .map_err(|e| CliError::param(param, format!("Invalid JSON: {e}")))?;
            for t in list {
                out.push(
                    Tag::new(t.tag_key, t.tag_value)
                        .map_err(|e| CliError::param(param, e.message()))?,
                );
            }
            continue;
        }
        let (mut key, mut val) = (None, None);
        for part in text.split(',') {
            match part.split_once('=') {
                Some(("TagKey", k)) => key = Some(k),
                Some(("TagValue", v)) => val = Some(v),
                _ => {
                    return Err(CliError::param(
                        param,
                        format!("Expected TagKey=...,TagValue=..., found '{text}'"),
                    ));
                }
            }
        }
        let (Some(k), Some(v)) = (key, val) else {
            return Err(CliError::param(
                param,
                format!("Expected TagKey=...,TagValue=..., found '{text}'"),
            ));
        };
        out.push(Tag::new(k, v).map_err(|e| CliError::param(param, e.message()))?);
    }
    Ok(out)
}

/// A map given as shorthand `k1=v1,k2=v2` or as a JSON object of strings.
fn pairs(param: &'static str, text: &str) -> Result<BTreeMap<String, String>, CliError> {
    if text.trim_start().starts_with('{') {
        let pairs: UniquePairs = serde_json::from_str(text)
            .map_err(|e| CliError::param(param, format!("Invalid JSON: {e}")))?;
        return Ok(pairs.0);
    }
    shorthand_pairs(param, text)
}

fn shorthand_pairs(param: &'static str, text: &str) -> Result<BTreeMap<String, String>, CliError> {
    let mut map = BTreeMap::new();
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            CliError::param(
                param,
                format!("Expected key=value pairs separated by commas, found '{pair}'"),
            )
        })?;
        if map
            .insert(k.trim().to_owned(), v.trim().to_owned())
            .is_some()
        {
            return Err(CliError::param(param, format!("Key '{k}' appears twice")));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs() {
        assert_eq!(&*blob("--x", "aGk=").ok().unwrap(), b"hi");
        assert!(blob("--x", "not base64!").is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("raw");
        fs::write(&p, [0u8, 255, 10]).unwrap();
        assert_eq!(
            &*blob("--x", &format!("fileb://{}", p.display()))
                .ok()
                .unwrap(),
            &[0, 255, 10]
        );
        let t = dir.path().join("text");
        fs::write(&t, "aGk=\n").unwrap();
        assert_eq!(
            &*blob("--x", &format!("file://{}", t.display()))
                .ok()
                .unwrap(),
            b"hi"
        );
        let missing = blob("--plaintext", "fileb:///no/such/file").err().unwrap();
        assert!(missing.to_string().starts_with(
            "Error parsing parameter '--plaintext': Unable to load paramfile fileb:///no/such/file"
        ));
    }

    #[test]
    fn contexts() {
        let c = context("--c", Some("purpose=test,team=a")).ok().unwrap();
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            [("purpose", "test"), ("team", "a")]
        );
        let j = context("--c", Some(r#"{"team":"a","purpose":"test"}"#))
            .ok()
            .unwrap();
        assert_eq!(c, j);
        assert!(context("--c", Some("novalue")).is_err());
        assert!(context("--c", Some("a=1,a=2")).is_err());
        let dup = context("--c", Some(r#"{"a":"1","a":"2"}"#))
            .err()
            .unwrap()
            .to_string();
        assert!(dup.contains("key 'a' appears twice"), "{dup}");
        assert!(context("--c", None).ok().unwrap().is_empty());
    }

    #[test]
    fn tag_lists() {
        let t = tags(
            "--tags",
            &["TagKey=a,TagValue=1".into(), "TagKey=b,TagValue=".into()],
        )
        .ok()
        .unwrap();
        assert_eq!((t[0].key(), t[0].value(), t[1].value()), ("a", "1", ""));
        let j = tags("--tags", &[r#"[{"TagKey":"a","TagValue":"1"}]"#.into()])
            .ok()
            .unwrap();
        assert_eq!(j[0], t[0]);
        assert!(tags("--tags", &["Key=a,Value=1".into()]).is_err());
        assert!(tags("--tags", &["TagKey=aws:x,TagValue=1".into()]).is_err());
    }

    #[test]
    fn grant_constraints() {
        let pairs = |c: &Option<EncryptionContext>| {
            c.as_ref().map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
            })
        };
        let c = constraints("--c", "EncryptionContextSubset={tenant=acme,team=a}")
            .ok()
            .unwrap();
        assert_eq!(
            pairs(&c.encryption_context_subset),
            Some(vec!["team=a".to_owned(), "tenant=acme".to_owned()])
        );
        assert_eq!(c.encryption_context_equals, None);
        let both = constraints(
            "--c",
            "EncryptionContextEquals={a=1}, EncryptionContextSubset={b=2}",
        )
        .ok()
        .unwrap();
        assert_eq!(
            pairs(&both.encryption_context_equals),
            Some(vec!["a=1".into()])
        );
        assert_eq!(
            pairs(&both.encryption_context_subset),
            Some(vec!["b=2".into()])
        );
        let json = constraints(
            "--c",
            r#"{"EncryptionContextSubset":{"team":"a","tenant":"acme"}}"#,
        )
        .ok()
        .unwrap();
        assert_eq!(json, c);
        for (bad, why) in [
            (
                "EncryptionContextSubset=tenant=acme",
                "must be {k1=v1,k2=v2}",
            ),
            ("EncryptionContextSubset={a}", "Expected key=value pairs"),
            ("SourceArn={a=1}", "Unknown member 'SourceArn'"),
            (
                "EncryptionContextSubset={a=1},EncryptionContextSubset={b=2}",
                "appears twice",
            ),
            ("EncryptionContextSubset={a=1} x", "Found 'x' after"),
            ("nonsense", "Found 'nonsense'"),
            (r#"{"SourceArn":"x"}"#, "unknown field `SourceArn`"),
            (
                r#"{"EncryptionContextEquals":{"a":"1","a":"2"}}"#,
                "key 'a' appears twice",
            ),
        ] {
            let e = constraints("--constraints", bad).err().unwrap().to_string();
            assert!(
                e.starts_with("Error parsing parameter '--constraints': ") && e.contains(why),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn principals_and_text() {
        assert_eq!(
            principal("--p", "arn:aws:iam::111122223333:user/app")
                .ok()
                .unwrap()
                .account(),
            "111122223333"
        );
        let e = principal("--grantee-principal", "bob")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with(
                "Error parsing parameter '--grantee-principal': 'bob' is not a principal ARN"
            ),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.json");
        fs::write(&p, "{ }\n").unwrap();
        assert_eq!(
            text("--policy", &format!("file://{}", p.display()))
                .ok()
                .unwrap(),
            "{ }\n"
        );
        assert_eq!(text("--policy", "{}").ok().unwrap(), "{}");
    }
}
