//! From document text to [`Policy`]: JSON, the document and statement structure, and the
//! Principal, Action and Resource elements.

use std::collections::BTreeSet;
use std::fmt;

use lockbox_api::ArnParts;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::actions::{self, ActionBits};
use super::condition::Condition;
use super::pattern::{ArnPattern, Glob};
use super::{Caller, Effect, MAX_POLICY_BYTES, Policy, PolicyError, Statement};

/// Parses and validates a whole document.
pub(super) fn document(text: &str) -> Result<Policy, PolicyError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(PolicyError(format!(
            "Policy: document is {} bytes; a key policy may have at most {MAX_POLICY_BYTES}",
            text.len()
        )));
    }
    let json: Json = serde_json::from_str(text).map_err(json_error)?;
    let policy = Location::Policy;
    let Json::Object(fields) = json else {
        return Err(policy.error("must be a JSON object"));
    };
    let mut version = None;
    let mut statement = None;
    for (name, value) in &fields {
        match name.as_str() {
            "Version" => version = Some(value),
            "Id" => {
                if !matches!(value, Json::String(_)) {
                    return Err(
                        policy.error(format!("Id must be a string, found {}", value.kind()))
                    );
                }
            }
            "Statement" => statement = Some(value),
            other => return Err(policy.error(format!("unknown field \"{other}\""))),
        }
    }
    // Optional, as in AWS; when present it must be one of the two versions AWS knows.
    if let Some(version) = version
        && !matches!(version, Json::String(v) if v == "2012-10-17" || v == "2008-10-17")
    {
        return Err(policy.error(format!(
            "Version must be \"2012-10-17\" or \"2008-10-17\", found {}",
            version.shown()
        )));
    }
    let items = match statement {
        None => return Err(policy.error("Statement is missing")),
        Some(Json::Array(items)) if items.is_empty() => {
            return Err(policy.error("Statement must not be empty"));
        }
        Some(Json::Array(items)) => items.iter().collect(),
        Some(object @ Json::Object(_)) => vec![object],
        Some(other) => {
            return Err(policy.error(format!(
                "Statement must be an object or an array, found {}",
                other.kind()
            )));
        }
    };
    let mut sids = BTreeSet::new();
    let mut statements = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let parsed = statement_of(index + 1, item, &mut sids)?;
        statements.push(parsed);
    }
    Ok(Policy { statements })
}

/// Where an error is: the document, or a statement (1-based, with its Sid when it has one).
#[derive(Clone, Copy, Debug)]
pub(super) enum Location<'a> {
    Policy,
    Statement(usize, Option<&'a str>),
}

impl Location<'_> {
    pub(super) fn error(&self, message: impl fmt::Display) -> PolicyError {
        PolicyError(format!("{self}: {message}"))
    }
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Policy => f.write_str("Policy"),
            Self::Statement(n, None) => write!(f, "Statement {n}"),
            Self::Statement(n, Some(sid)) => write!(f, "Statement {n} (Sid \"{sid}\")"),
        }
    }
}

fn statement_of<'a>(
    index: usize,
    json: &'a Json,
    sids: &mut BTreeSet<&'a str>,
) -> Result<Statement, PolicyError> {
    let Json::Object(fields) = json else {
        return Err(Location::Statement(index, None)
            .error(format!("must be a JSON object, found {}", json.kind())));
    };
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let sid = match field("Sid") {
        None => None,
        Some(Json::String(sid)) => Some(sid.as_str()),
        Some(other) => {
            return Err(Location::Statement(index, None)
                .error(format!("Sid must be a string, found {}", other.kind())));
        }
    };
    let at = Location::Statement(index, sid);
    if let Some(sid) = sid
        && !sids.insert(sid)
    {
        return Err(at.error(format!("duplicate Sid \"{sid}\"")));
    }
    for (name, _) in fields {
        if !matches!(
            name.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(at.error(format!("unknown field \"{name}\"")));
        }
    }
    let effect = match field("Effect") {
        None => return Err(at.error("Effect is missing")),
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(at.error(format!(
                "Effect must be \"Allow\" or \"Deny\", found {}",
                other.shown()
            )));
        }
    };
    let (principal, not_principal) =
        either(&at, field("Principal"), field("NotPrincipal"), "Principal")?;
    let (action, not_action) = either(&at, field("Action"), field("NotAction"), "Action")?;
    let (resource, not_resource) =
        either(&at, field("Resource"), field("NotResource"), "Resource")?;
    let principal_name = if not_principal {
        "NotPrincipal"
    } else {
        "Principal"
    };
    let action_name = if not_action { "NotAction" } else { "Action" };
    let resource_name = if not_resource {
        "NotResource"
    } else {
        "Resource"
    };
    let condition = match field("Condition") {
        None => Condition::default(),
        Some(json) => Condition::parse(json, &at)?,
    };
    Ok(Statement {
        effect,
        principal: PrincipalMatcher::parse(principal)
            .map_err(|why| at.error(format!("{principal_name}: {why}")))?,
        not_principal,
        action: ActionMatcher::parse(action)
            .map_err(|why| at.error(format!("{action_name}: {why}")))?,
        not_action,
        resource: ResourceMatcher::parse(resource)
            .map_err(|why| at.error(format!("{resource_name}: {why}")))?,
        not_resource,
        condition,
    })
}

/// Exactly one of `X` / `NotX`; returns it and whether it was the Not form.
fn either<'a>(
    at: &Location<'_>,
    positive: Option<&'a Json>,
    negative: Option<&'a Json>,
    name: &str,
) -> Result<(&'a Json, bool), PolicyError> {
    match (positive, negative) {
        (Some(json), None) => Ok((json, false)),
        (None, Some(json)) => Ok((json, true)),
        (Some(_), Some(_)) => Err(at.error(format!("has both {name} and Not{name}; use one"))),
        (None, None) => Err(at.error(format!("{name} or Not{name} is required"))),
    }
}

/// A string or a non-empty array of strings.
fn strings(json: &Json) -> Result<Vec<&str>, String> {
    match json {
        Json::String(s) => Ok(vec![s.as_str()]),
        Json::Array(items) if items.is_empty() => Err("must not be an empty array".to_owned()),
        Json::Array(items) => items
            .iter()
            .map(|item| match item {
                Json::String(s) => Ok(s.as_str()),
                other => Err(format!("must hold strings, found {}", other.kind())),
            })
            .collect(),
        other => Err(format!(
            "must be a string or an array of strings, found {}",
            other.kind()
        )),
    }
}

/// Who a Principal element names.
#[derive(Debug, Default)]
pub(super) struct PrincipalMatcher {
    everyone: bool,
    /// 12-digit accounts named by id: every principal of the account, any partition.
    accounts: Vec<String>,
    /// `arn:<partition>:iam::<account>:root`: every principal of the account, that partition.
    roots: Vec<(String, String)>,
    /// User, role and assumed-role ARNs, matched exactly against the caller's ARN.
    arns: Vec<String>,
    /// Roles as (partition, account, name), whose sessions match too.
    roles: Vec<(String, String, String)>,
}

impl PrincipalMatcher {
    pub(super) fn matches(&self, caller: &Caller<'_>) -> bool {
        self.everyone
            || self.accounts.iter().any(|a| a == caller.account)
            || self
                .roots
                .iter()
                .any(|(p, a)| a == caller.account && p == caller.partition)
            || self.arns.iter().any(|arn| arn == caller.arn)
            || caller.assumed_role.is_some_and(|(account, role)| {
                self.roles
                    .iter()
                    .any(|(p, a, r)| p == caller.partition && a == account && r == role)
            })
    }

    fn parse(json: &Json) -> Result<Self, String> {
        let mut matcher = Self::default();
        let entries = match json {
            Json::String(s) if s == "*" => {
                matcher.everyone = true;
                return Ok(matcher);
            }
            Json::Object(entries) if !entries.is_empty() => entries,
            Json::Object(_) => return Err("names no principal".to_owned()),
            other => {
                return Err(format!(
                    "must be \"*\" or an object such as {{\"AWS\": ...}}, found {}",
                    other.shown()
                ));
            }
        };
        for (kind, values) in entries {
            let values = strings(values).map_err(|why| format!("{kind} {why}"))?;
            match kind.as_str() {
                "AWS" => {
                    for value in values {
                        matcher.add_aws(value)?;
                    }
                }
                // Accepted so AWS policies load unchanged; no AWS service calls Lockbox.
                "Service" => {
                    if let Some(bad) = values
                        .iter()
                        .find(|v| v.is_empty() || v.contains(['*', '?']))
                    {
                        return Err(format!("unsupported service principal \"{bad}\""));
                    }
                }
                other => return Err(format!("unsupported principal type \"{other}\"")),
            }
        }
        Ok(matcher)
    }

    fn add_aws(&mut self, value: &str) -> Result<(), String> {
        let unsupported = || format!("unsupported principal \"{value}\"");
        if value == "*" {
            self.everyone = true;
            return Ok(());
        }
        if is_account(value) {
            self.accounts.push(value.to_owned());
            return Ok(());
        }
        let Some(
            parts @ ArnParts {
                region: "",
                partition,
                service,
                account,
                resource,
            },
        ) = ArnParts::split(value)
        else {
            return Err(unsupported());
        };
        if !parts.partition_ok() || !is_account(account) {
            return Err(unsupported());
        }
        match service {
            "iam" if resource == "root" => {
                self.roots.push((partition.to_owned(), account.to_owned()));
            }
            "iam" => {
                let (kind, path_and_name) = resource.split_once('/').ok_or_else(unsupported)?;
                let name = iam_path_name(path_and_name).ok_or_else(unsupported)?;
                match kind {
                    "user" => {}
                    "role" => {
                        self.roles
                            .push((partition.to_owned(), account.to_owned(), name.to_owned()))
                    }
                    _ => return Err(unsupported()),
                }
                self.arns.push(value.to_owned());
            }
            "sts" => {
                let rest = resource
                    .strip_prefix("assumed-role/")
                    .ok_or_else(unsupported)?;
                let (role, session) = rest.split_once('/').ok_or_else(unsupported)?;
                if !is_iam_name(role) || !is_iam_name(session) {
                    return Err(unsupported());
                }
                self.arns.push(value.to_owned());
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Characters IAM allows in user, role and session names.
fn is_iam_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// `path/segments/name` (or `name`): returns the name when every part is a valid IAM name.
fn iam_path_name(s: &str) -> Option<&str> {
    s.split('/')
        .all(is_iam_name)
        .then(|| s.rsplit('/').next())
        .flatten()
}

/// Which actions an Action element names, as a bit set over `Action::ALL`.
#[derive(Debug)]
pub(super) struct ActionMatcher {
    /// Bit `i` set: the element names `Action::ALL[i]`.
    known: ActionBits,
    /// `"*"`: every action, of any service.
    everything: bool,
    /// Lower-cased names and patterns (without `kms:`), for a request action the list lacks.
    patterns: Vec<Glob>,
}

impl ActionMatcher {
    /// `index` is the request action's place in `Action::ALL`, when it has one.
    pub(super) fn matches(&self, index: Option<usize>, action: &str) -> bool {
        if self.everything {
            return true;
        }
        match index {
            Some(i) => self.known & (1 << i) != 0,
            None => actions::strip_service(action).is_some_and(|name| {
                self.patterns
                    .iter()
                    .any(|p| p.matches_ignore_ascii_case(name))
            }),
        }
    }

    fn parse(json: &Json) -> Result<Self, String> {
        let mut matcher = Self {
            known: 0,
            everything: false,
            patterns: Vec::new(),
        };
        for action in strings(json)? {
            if action == "*" {
                matcher.everything = true;
                continue;
            }
            let Some(name) = actions::strip_service(action) else {
                return Err(format!(
                    "unsupported action \"{action}\": Lockbox serves only kms: actions"
                ));
            };
            let pattern = Glob::new_ascii_lowercase(name);
            if name.contains(['*', '?']) {
                if !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
                {
                    return Err(format!("unknown KMS action \"{action}\""));
                }
                for (i, known) in actions::names().enumerate() {
                    if pattern.matches_ignore_ascii_case(known) {
                        matcher.known |= 1 << i;
                    }
                }
            } else {
                let i = actions::index_of_name(name)
                    .ok_or_else(|| format!("unknown KMS action \"{action}\""))?;
                matcher.known |= 1 << i;
            }
            matcher.patterns.push(pattern);
        }
        Ok(matcher)
    }
}

/// Which keys a Resource element names.
#[derive(Debug)]
pub(super) struct ResourceMatcher {
    everything: bool,
    patterns: Vec<ArnPattern>,
}

impl ResourceMatcher {
    /// True when this is `"*"`: the resource's name does not matter.
    pub(super) fn is_everything(&self) -> bool {
        self.everything
    }

    pub(super) fn matches(&self, resource: &str) -> bool {
        self.everything || self.patterns.iter().any(|p| p.matches(resource))
    }

    fn parse(json: &Json) -> Result<Self, String> {
        let mut matcher = Self {
            everything: false,
            patterns: Vec::new(),
        };
        for resource in strings(json)? {
            if resource == "*" {
                matcher.everything = true;
            } else if resource.contains("${") {
                return Err(format!(
                    "\"{resource}\" uses a policy variable, which Lockbox does not support"
                ));
            } else {
                let pattern = ArnPattern::new(resource)
                    .ok_or_else(|| format!("\"{resource}\" is neither \"*\" nor an ARN"))?;
                matcher.patterns.push(pattern);
            }
        }
        Ok(matcher)
    }
}

/// `Policy: not valid JSON at line 3 column 5: expected ...`
fn json_error(error: serde_json::Error) -> PolicyError {
    let full = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&position).unwrap_or(&full);
    PolicyError(format!(
        "Policy: not valid JSON at line {} column {}: {message}",
        error.line(),
        error.column()
    ))
}

/// A JSON value that keeps object fields in order and refuses duplicate keys: with serde_json's
/// own `Value` a repeated `"Condition"` or operator would silently replace the first.
#[derive(Debug)]
pub(super) enum Json {
    Null,
    Bool(bool),
    /// A number, as its JSON text.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// What kind of value this is, for messages.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Number(_) => "a number",
            Self::String(_) => "a string",
            Self::Array(_) => "an array",
            Self::Object(_) => "an object",
        }
    }

    /// A string quoted, anything else by kind.
    fn shown(&self) -> String {
        match self {
            Self::String(s) => format!("\"{s}\""),
            other => other.kind().to_owned(),
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields: Vec<(String, Json)> = Vec::new();
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
            }
            let value = map.next_value()?;
            fields.push((key, value));
        }
        Ok(Json::Object(fields))
    }
}
