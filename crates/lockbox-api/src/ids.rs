//! Key ids, alias names, ARNs, and the four ways a request can name a key.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use uuid::Uuid;

use crate::error::{ErrorKind, KmsError};

/// The longest key identifier (id, ARN, alias or alias ARN) the AWS model accepts.
pub const MAX_KEY_ID_LEN: usize = 2048;
/// The longest alias name the AWS model accepts, prefix included.
pub const MAX_ALIAS_NAME_LEN: usize = 256;
/// Every alias name starts with this.
pub const ALIAS_PREFIX: &str = "alias/";
/// Alias names under this prefix belong to AWS-managed keys and cannot be created or moved.
pub const RESERVED_ALIAS_PREFIX: &str = "alias/aws/";

/// A key's unique id: a random (version 4) UUID, printed in lowercase hyphenated form, or
/// for a multi-Region key `mrk-` and 32 lowercase hex digits, as AWS prints them.
///
/// Both are 16 bytes, and the bytes alone tell them apart, so records, aliases, grants and
/// tombstones keep storing 16 bytes: a UUID key id always has the version 4 UUID's bits
/// (version nibble 4, variant `10`), and the multi-Region ids Lockbox makes never do
/// ([`KeyId::new_multi_region`] clears the variant's top bit). A `mrk-` id parsed from a
/// request keeps its form whatever its bits (no such key exists here, and errors name it as
/// it was given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId {
    bytes: [u8; 16],
    multi_region: bool,
}

/// The prefix of a multi-Region key id.
pub const MULTI_REGION_KEY_PREFIX: &str = "mrk-";

impl KeyId {
    /// Builds a key id from 16 random bytes (it sets the UUID version and variant bits).
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        KeyId {
            bytes: *uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .as_bytes(),
            multi_region: false,
        }
    }

    /// Builds a multi-Region key id (`mrk-...`) from 16 random bytes; it clears the top bit
    /// of byte 8, so the id can never have a version 4 UUID's bits.
    pub fn new_multi_region(mut bytes: [u8; 16]) -> Self {
        bytes[8] &= 0x7f;
        KeyId {
            bytes,
            multi_region: true,
        }
    }

    /// Rebuilds a key id from the 16 bytes `as_bytes` returned: a version 4 UUID's bits make
    /// a UUID key id, anything else a multi-Region one.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let uuid_v4 = bytes[6] >> 4 == 4 && bytes[8] >> 6 == 0b10;
        KeyId {
            bytes,
            multi_region: !uuid_v4,
        }
    }

    /// The 16 bytes of the id, as stored in records and ciphertext blobs.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.bytes
    }

    /// True for a multi-Region key id (`mrk-...`).
    pub fn is_multi_region(&self) -> bool {
        self.multi_region
    }

    /// Parses the hyphenated form (`1234abcd-12ab-34cd-56ef-1234567890ab`) or a multi-Region
    /// key id (`mrk-` and 32 lowercase hex digits).
    ///
    /// Anything else is a `NotFoundException`, as in AWS KMS: no such key can exist.
    pub fn parse(s: &str) -> Result<Self, KmsError> {
        if let Some(hex) = s.strip_prefix(MULTI_REGION_KEY_PREFIX) {
            if hex.len() != 32
                || !hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(invalid_key_id(s));
            }
            let mut bytes = [0u8; 16];
            for (i, byte) in bytes.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .map_err(|_| invalid_key_id(s))?;
            }
            return Ok(KeyId {
                bytes,
                multi_region: true,
            });
        }
        if s.len() != 36 {
            return Err(invalid_key_id(s));
        }
        Uuid::try_parse(s)
            .map(|u| KeyId {
                bytes: *u.as_bytes(),
                multi_region: false,
            })
            .map_err(|_| invalid_key_id(s))
    }
}

fn invalid_key_id(s: &str) -> KmsError {
    KmsError::not_found(format!("Invalid keyId '{}'", shorten(s)))
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.multi_region {
            f.write_str(MULTI_REGION_KEY_PREFIX)?;
            for b in &self.bytes {
                write!(f, "{b:02x}")?;
            }
            Ok(())
        } else {
            fmt::Display::fmt(&Uuid::from_bytes(self.bytes).hyphenated(), f)
        }
    }
}

impl FromStr for KeyId {
    type Err = KmsError;
    fn from_str(s: &str) -> Result<Self, KmsError> {
        Self::parse(s)
    }
}

/// An alias name: `alias/` followed by 1 or more of `[a-zA-Z0-9:/_-]`, at most 256 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AliasName(String);

impl AliasName {
    /// Parses and checks an alias name against the AWS model.
    pub fn parse(s: &str) -> Result<Self, KmsError> {
        if s.is_empty() || s.len() > MAX_ALIAS_NAME_LEN {
            return Err(KmsError::constraint(
                "aliasName",
                shorten(s),
                &crate::error::length_rule(s.len(), MAX_ALIAS_NAME_LEN),
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-'))
        {
            return Err(KmsError::constraint(
                "aliasName",
                shorten(s),
                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
            ));
        }
        match s.strip_prefix(ALIAS_PREFIX) {
            Some(rest) if !rest.is_empty() => Ok(AliasName(s.to_owned())),
            Some(_) => Err(KmsError::new(
                ErrorKind::InvalidAliasName,
                "Alias name must have at least one character after the prefix alias/",
            )),
            // AWS answers a missing prefix with ValidationException, in these words.
            None => Err(KmsError::validation(
                "Alias must start with the prefix \"alias/\". Please see \
                 https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
            )),
        }
    }

    /// The full name, `alias/` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for names under `alias/aws/`, which only AWS-managed keys may carry.
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with(RESERVED_ALIAS_PREFIX)
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AliasName {
    type Err = KmsError;
    fn from_str(s: &str) -> Result<Self, KmsError> {
        Self::parse(s)
    }
}

/// The longest Region name (the model's `RegionType`).
pub const MAX_REGION_LEN: usize = 32;

/// The pattern of a Region name (the model's `RegionType`), as AWS's validation message
/// prints it.
pub const REGION_PATTERN: &str = "^([a-z]+-){2,3}\\d+$";

/// Whether `s` has the form of an AWS Region name, as the KMS model's `RegionType` defines
/// it: `^([a-z]+-){2,3}\d+$`, at most 32 characters (`us-east-1`, `us-gov-west-1`).
pub fn is_region_name(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_REGION_LEN {
        return false;
    }
    let Some((words, number)) = s.rsplit_once('-') else {
        return false;
    };
    let words: Vec<&str> = words.split('-').collect();
    !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && (2..=3).contains(&words.len())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Where keys live, as ARNs say it: `arn:<partition>:kms:<region>:<account>:...`.
///
/// Every ARN carries its scope; it is shared, so cloning one is cheap.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArnScope(Arc<ScopeParts>);

#[derive(Debug, PartialEq, Eq, Hash)]
struct ScopeParts {
    partition: String,
    region: String,
    account: String,
}

impl ArnScope {
    /// A scope; each part is checked (partition and region: lowercase letters, digits and `-`;
    /// account: 12 digits).
    pub fn new(partition: &str, region: &str, account: &str) -> Result<Self, KmsError> {
        let word = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !word(partition) {
            return Err(KmsError::validation(format!(
                "ARN partition '{}' must be lowercase letters, digits and '-'",
                shorten(partition)
            )));
        }
        if !word(region) {
            return Err(KmsError::validation(format!(
                "ARN region '{}' must be lowercase letters, digits and '-'",
                shorten(region)
            )));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(KmsError::validation(format!(
                "AWS account id '{}' must be 12 digits",
                shorten(account)
            )));
        }
        Ok(ArnScope(Arc::new(ScopeParts {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
        })))
    }

    /// The partition, e.g. `aws`.
    pub fn partition(&self) -> &str {
        &self.0.partition
    }

    /// The region, e.g. `us-east-1`.
    pub fn region(&self) -> &str {
        &self.0.region
    }

    /// The 12-digit account id.
    pub fn account(&self) -> &str {
        &self.0.account
    }

    /// The ARN of a key in this scope.
    pub fn key_arn(&self, key_id: KeyId) -> KeyArn {
        KeyArn {
            scope: self.clone(),
            key_id,
        }
    }

    /// The ARN of an alias in this scope.
    pub fn alias_arn(&self, alias: &AliasName) -> AliasArn {
        AliasArn {
            scope: self.clone(),
            alias: alias.clone(),
        }
    }
}

impl Default for ArnScope {
    /// `aws`, `us-east-1`, account `000000000000`: values every AWS client accepts.
    fn default() -> Self {
        ArnScope(Arc::new(ScopeParts {
            partition: "aws".to_owned(),
            region: "us-east-1".to_owned(),
            account: "000000000000".to_owned(),
        }))
    }
}

/// `arn:<partition>:kms:<region>:<account>:key/<key-id>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyArn {
    scope: ArnScope,
    key_id: KeyId,
}

impl KeyArn {
    /// The scope the ARN names.
    pub fn scope(&self) -> &ArnScope {
        &self.scope
    }

    /// The key id the ARN names.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
}

impl fmt::Display for KeyArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.scope;
        write!(
            f,
            "arn:{}:kms:{}:{}:key/{}",
            s.partition(),
            s.region(),
            s.account(),
            self.key_id
        )
    }
}

/// `arn:<partition>:kms:<region>:<account>:alias/<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AliasArn {
    scope: ArnScope,
    alias: AliasName,
}

impl AliasArn {
    /// The scope the ARN names.
    pub fn scope(&self) -> &ArnScope {
        &self.scope
    }

    /// The alias name the ARN names.
    pub fn alias(&self) -> &AliasName {
        &self.alias
    }
}

impl fmt::Display for AliasArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.scope;
        write!(
            f,
            "arn:{}:kms:{}:{}:{}",
            s.partition(),
            s.region(),
            s.account(),
            self.alias
        )
    }
}

/// How a request names a key: key id, key ARN, alias name or alias ARN.
///
/// Which forms an operation accepts is the operation's business (EnableKey takes no alias);
/// this type only guarantees the form is well-made.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyRef {
    /// `1234abcd-12ab-34cd-56ef-1234567890ab`
    Id(KeyId),
    /// `arn:aws:kms:us-east-1:111122223333:key/1234abcd-...`
    KeyArn(KeyArn),
    /// `alias/ExampleAlias`
    Alias(AliasName),
    /// `arn:aws:kms:us-east-1:111122223333:alias/ExampleAlias`
    AliasArn(AliasArn),
}

impl KeyRef {
    /// Parses any of the four forms.
    ///
    /// A malformed ARN is `InvalidArnException`; a string that is neither an ARN, an alias nor
    /// a key id is `NotFoundException`, as AWS KMS answers.
    pub fn parse(s: &str) -> Result<Self, KmsError> {
        if s.is_empty() || s.len() > MAX_KEY_ID_LEN {
            return Err(KmsError::constraint(
                "keyId",
                shorten(s),
                &crate::error::length_rule(s.len(), MAX_KEY_ID_LEN),
            ));
        }
        if s.starts_with("arn:") {
            return parse_arn(s);
        }
        if s.starts_with(ALIAS_PREFIX) {
            return AliasName::parse(s).map(KeyRef::Alias);
        }
        KeyId::parse(s).map(KeyRef::Id)
    }

    /// True if this names an alias (by name or ARN) rather than a key.
    pub fn is_alias(&self) -> bool {
        matches!(self, KeyRef::Alias(_) | KeyRef::AliasArn(_))
    }
}

impl From<KeyId> for KeyRef {
    fn from(id: KeyId) -> Self {
        KeyRef::Id(id)
    }
}

impl From<KeyArn> for KeyRef {
    fn from(arn: KeyArn) -> Self {
        KeyRef::KeyArn(arn)
    }
}

impl From<AliasName> for KeyRef {
    fn from(alias: AliasName) -> Self {
        KeyRef::Alias(alias)
    }
}

impl FromStr for KeyRef {
    type Err = KmsError;
    fn from_str(s: &str) -> Result<Self, KmsError> {
        Self::parse(s)
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Id(id) => id.fmt(f),
            KeyRef::KeyArn(arn) => arn.fmt(f),
            KeyRef::Alias(alias) => alias.fmt(f),
            KeyRef::AliasArn(arn) => arn.fmt(f),
        }
    }
}

/// The six parts of an ARN, borrowed: `arn:<partition>:<service>:<region>:<account>:<resource>`.
///
/// The one place an ARN's text is split. The resource is everything after the fifth colon (an
/// alias name or a session name may hold colons); parts may be empty. Whether the parts make
/// sense (a known service, a 12-digit account) is for the caller to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArnParts<'a> {
    /// `aws`, `aws-cn`, ...
    pub partition: &'a str,
    /// `kms`, `iam`, `sts`, ...
    pub service: &'a str,
    /// Empty for global services (IAM, STS principals).
    pub region: &'a str,
    /// The account id.
    pub account: &'a str,
    /// `key/<id>`, `alias/<name>`, `user/alice`, `root`, ...
    pub resource: &'a str,
}

impl<'a> ArnParts<'a> {
    /// Splits `text` if it has the shape `arn:` plus five colon-separated parts.
    pub fn split(text: &'a str) -> Option<ArnParts<'a>> {
        let mut parts = text.strip_prefix("arn:")?.splitn(5, ':');
        Some(ArnParts {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        })
    }

    /// Whether the partition is well formed: lowercase letters, digits and `-`, not empty.
    pub fn partition_ok(&self) -> bool {
        !self.partition.is_empty()
            && self
                .partition
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }
}

fn parse_arn(whole: &str) -> Result<KeyRef, KmsError> {
    let invalid = || {
        KmsError::new(
            ErrorKind::InvalidArn,
            format!("Invalid arn {}", shorten(whole)),
        )
    };
    let Some(ArnParts {
        partition,
        service: "kms",
        region,
        account,
        resource,
    }) = ArnParts::split(whole)
    else {
        return Err(invalid());
    };
    let scope = ArnScope::new(partition, region, account).map_err(|_| invalid())?;
    if let Some(id) = resource.strip_prefix("key/") {
        let key_id = KeyId::parse(id).map_err(|_| invalid())?;
        Ok(KeyRef::KeyArn(KeyArn { scope, key_id }))
    } else if resource.starts_with(ALIAS_PREFIX) {
        let alias = AliasName::parse(resource).map_err(|_| invalid())?;
        Ok(KeyRef::AliasArn(AliasArn { scope, alias }))
    } else {
        Err(invalid())
    }
}

/// An untrusted string as error messages and logs may echo it: at most 80 characters (then
/// `...`), control characters shown as `?` so that nothing can forge a log line.
pub fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    let mut out: String = s
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_parts_split_at_the_first_five_colons() {
        let p = ArnParts::split("arn:aws-cn:kms:cn-north-1:111122223333:alias/a:b").unwrap();
        assert_eq!(
            (p.partition, p.service, p.region, p.account, p.resource),
            ("aws-cn", "kms", "cn-north-1", "111122223333", "alias/a:b")
        );
        assert!(p.partition_ok());
        let p = ArnParts::split("arn:aws:iam::111122223333:root").unwrap();
        assert_eq!((p.region, p.resource), ("", "root"));
    }

    #[test]
    fn multi_region_key_ids_are_told_from_uuids_by_form_and_by_bytes() {
        let mrk = KeyId::new_multi_region([0xff; 16]);
        assert!(mrk.is_multi_region());
        let text = mrk.to_string();
        assert_eq!(text, "mrk-ffffffffffffffff7fffffffffffffff");
        assert_eq!(KeyId::parse(&text).unwrap(), mrk);
        assert_eq!(KeyId::from_bytes(*mrk.as_bytes()), mrk);
        let uuid = KeyId::from_random_bytes([0xff; 16]);
        assert!(!uuid.is_multi_region());
        assert_eq!(KeyId::from_bytes(*uuid.as_bytes()), uuid);
        assert_eq!(KeyId::parse(&uuid.to_string()).unwrap(), uuid);
        // Whatever random bytes it is made from, a multi-Region id never reads back as a UUID.
        for seed in 0..=255u8 {
            let id = KeyId::new_multi_region([seed; 16]);
            assert!(
                KeyId::from_bytes(*id.as_bytes()).is_multi_region(),
                "{seed}"
            );
            assert!(
                !KeyId::from_bytes(*KeyId::from_random_bytes([seed; 16]).as_bytes())
                    .is_multi_region()
            );
        }
        // An ARN carries either form.
        let arn = format!("arn:aws:kms:eu-west-1:111122223333:key/{text}");
        match KeyRef::parse(&arn).unwrap() {
            KeyRef::KeyArn(a) => assert_eq!(a.key_id(), mrk),
            other => panic!("{other:?}"),
        }
        for bad in [
            "mrk-",
            "mrk-FFFFFFFFFFFFFFFF7FFFFFFFFFFFFFFF",
            "mrk-ffff",
            "mrk-ffffffffffffffff7fffffffffffffff0",
            "mrk-gfffffffffffffff7fffffffffffffff",
            "MRK-ffffffffffffffff7fffffffffffffff",
        ] {
            let e = KeyId::parse(bad).unwrap_err();
            assert_eq!(
                (e.kind(), e.message().to_owned()),
                (ErrorKind::NotFound, format!("Invalid keyId '{bad}'"))
            );
        }
    }

    #[test]
    fn region_names_have_the_models_form() {
        for ok in ["us-east-1", "eu-west-3", "us-gov-west-1", "ap-southeast-12"] {
            assert!(is_region_name(ok), "{ok}");
        }
        let long = format!("{}-east-1", "a".repeat(26));
        for bad in [
            "",
            "local",
            "us-east",
            "us-1",
            "US-east-1",
            "a-b-c-d-1",
            "us--east-1",
            "us-east-1a",
            "-us-east-1",
            long.as_str(),
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
        assert_eq!(ArnParts::split("arn:aws:iam::111122223333"), None);
        assert_eq!(ArnParts::split("urn:aws:iam::111122223333:root"), None);
        assert!(
            !ArnParts::split("arn:AWS:iam::1:root")
                .unwrap()
                .partition_ok()
        );
    }

    #[test]
    fn shorten_bounds_length_and_hides_control_characters() {
        assert_eq!(shorten("alias/x"), "alias/x");
        assert_eq!(shorten("a\nb\u{1b}[31m"), "a?b?[31m");
        let long = "é".repeat(81);
        assert_eq!(shorten(&long), format!("{}...", "é".repeat(80)));
        assert_eq!(shorten(&"é".repeat(80)), "é".repeat(80));
    }

    const ID: &str = "1234abcd-12ab-44cd-96ef-1234567890ab";

    #[test]
    fn parses_all_four_forms() -> Result<(), KmsError> {
        let id = KeyId::parse(ID)?;
        assert_eq!(KeyRef::parse(ID)?, KeyRef::Id(id));
        let arn = format!("arn:aws:kms:us-east-1:111122223333:key/{ID}");
        match KeyRef::parse(&arn)? {
            KeyRef::KeyArn(k) => {
                assert_eq!(k.key_id(), id);
                assert_eq!(k.to_string(), arn);
            }
            other => panic!("expected key ARN, got {other:?}"),
        }
        assert_eq!(
            KeyRef::parse("alias/app")?,
            KeyRef::Alias(AliasName::parse("alias/app")?)
        );
        let alias_arn = "arn:aws-cn:kms:cn-north-1:111122223333:alias/a:b/c";
        match KeyRef::parse(alias_arn)? {
            KeyRef::AliasArn(a) => {
                assert_eq!(a.alias().as_str(), "alias/a:b/c");
                assert_eq!(a.scope().partition(), "aws-cn");
                assert_eq!(a.to_string(), alias_arn);
            }
            other => panic!("expected alias ARN, got {other:?}"),
        }
        Ok(())
    }

    #[test]
    fn rejects_malformed_forms_with_aws_error_kinds() {
        let kind = |s: &str| KeyRef::parse(s).map(|_| ()).unwrap_err().kind();
        assert_eq!(kind(""), ErrorKind::Validation);
        assert_eq!(kind(&"a".repeat(2049)), ErrorKind::Validation);
        assert_eq!(kind("not-a-key"), ErrorKind::NotFound);
        assert_eq!(
            kind("{1234abcd-12ab-44cd-96ef-1234567890ab}"),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind("arn:aws:s3:us-east-1:111122223333:key/x"),
            ErrorKind::InvalidArn
        );
        assert_eq!(
            kind("arn:aws:kms:us-east-1:1111:key/x"),
            ErrorKind::InvalidArn
        );
        assert_eq!(
            kind(&format!("arn:aws:kms:us-east-1:111122223333:bucket/{ID}")),
            ErrorKind::InvalidArn
        );
        assert_eq!(kind("arn:aws:kms"), ErrorKind::InvalidArn);
        assert_eq!(kind("alias/"), ErrorKind::InvalidAliasName);
        assert_eq!(kind("alias/has space"), ErrorKind::Validation);
    }

    #[test]
    fn alias_rules() -> Result<(), KmsError> {
        assert!(AliasName::parse("alias/aws/ebs")?.is_reserved());
        assert!(!AliasName::parse("alias/awsome")?.is_reserved());
        let e = AliasName::parse("app").unwrap_err();
        assert_eq!(
            (e.kind(), e.message()),
            (
                ErrorKind::Validation,
                "Alias must start with the prefix \"alias/\". Please see \
                 https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
            )
        );
        let longest = format!("alias/{}", "x".repeat(250));
        assert!(AliasName::parse(&longest).is_ok());
        assert_eq!(
            AliasName::parse(&format!("{longest}x")).unwrap_err().kind(),
            ErrorKind::Validation
        );
        Ok(())
    }

    #[test]
    fn key_id_round_trips_bytes_and_text() -> Result<(), KmsError> {
        let id = KeyId::from_random_bytes([7; 16]);
        assert_eq!(KeyId::from_bytes(*id.as_bytes()), id);
        assert_eq!(KeyId::parse(&id.to_string())?, id);
        assert_eq!(id.to_string().len(), 36);
        Ok(())
    }

    #[test]
    fn arn_scope_checks_each_part() {
        assert!(ArnScope::new("aws", "eu-west-3", "123456789012").is_ok());
        assert!(ArnScope::new("AWS", "eu-west-3", "123456789012").is_err());
        assert!(ArnScope::new("aws", "", "123456789012").is_err());
        assert!(ArnScope::new("aws", "eu-west-3", "12345678901a").is_err());
    }
}
