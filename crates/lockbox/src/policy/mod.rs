//! Key policies: the AWS key-policy language, parsed once and evaluated on every call.
//!
//! [`Policy::parse`] turns a key policy document into statements whose patterns are already
//! compiled (actions become a bit set over the known KMS actions, wildcards become matchers,
//! condition keys are lower-cased, numbers are parsed), so [`Policy::evaluate`] only compares:
//! it allocates nothing and reads each statement once.
//!
//! The language is AWS's, with these deliberate differences (docs/policy.md has the full list):
//!
//! * **Account principals stand in for IAM.** In AWS, a key policy that names an account
//!   (`"111122223333"` or `arn:aws:iam::111122223333:root`) delegates to that account's IAM
//!   policies. Lockbox has no IAM, so we take those policies to allow: an account principal
//!   matches every principal of that account.
//! * **Service principals match nothing.** `{"Service": "..."}` is accepted so AWS policies
//!   load unchanged, but no AWS service calls Lockbox.
//! * **No policy variables.** `${...}` in a resource or condition value is rejected rather than
//!   matched literally, so a policy written for AWS never silently means something else here.
//! * **A role principal also matches its sessions**, as in AWS resource policies:
//!   `arn:aws:iam::111122223333:role/path/Admin` matches the caller
//!   `arn:aws:sts::111122223333:assumed-role/Admin/any-session`.
//!
//! Missing condition keys follow IAM: a positive operator is false, a negated operator
//! (`StringNotEquals`, `ArnNotLike`, ...) is true, `...IfExists` is true, `ForAnyValue:` is
//! false and `ForAllValues:` is true. A multi-valued key without a set qualifier behaves as
//! `ForAnyValue:` for positive operators and as "no request value matches" for negated ones.

mod actions;
mod condition;
pub(crate) mod keys;
mod parse;
mod pattern;
#[cfg(test)]
mod tests;

use std::fmt;

use lockbox_api::ArnParts;

use self::condition::Condition;
use self::parse::{ActionMatcher, PrincipalMatcher, ResourceMatcher};

/// The largest key policy AWS KMS accepts, in bytes (the key policy document size quota).
pub(crate) const MAX_POLICY_BYTES: usize = 32_768;

/// A parsed, validated key policy.
#[derive(Debug)]
pub(crate) struct Policy {
    statements: Vec<Statement>,
}

impl Policy {
    /// Parses and validates a key policy document.
    pub(crate) fn parse(document: &str) -> Result<Policy, PolicyError> {
        parse::document(document)
    }

    /// True when some statement has a Condition: only then does a decision read the request
    /// context, so a caller may skip building it otherwise.
    pub(crate) fn reads_conditions(&self) -> bool {
        self.statements.iter().any(|s| !s.condition.is_empty())
    }

    /// True when some statement names resources other than `"*"`: only then does a decision
    /// read the request's resource.
    pub(crate) fn reads_resource(&self) -> bool {
        self.statements
            .iter()
            .any(|s| s.not_resource || !s.resource.is_everything())
    }

    /// Decides one request. Explicit Deny wins over Allow; no matching statement = NotApplicable.
    pub(crate) fn evaluate(&self, request: &Request<'_>) -> Decision {
        let caller = Caller::new(request);
        let action = actions::index(request.action);
        let mut allowed = false;
        for statement in &self.statements {
            // Once allowed, only a Deny can change the answer.
            if allowed && statement.effect == Effect::Allow {
                continue;
            }
            if statement.matches(&caller, action, request) {
                match statement.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NotApplicable
        }
    }
}

/// What a key policy says about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A statement allows the request and none denies it.
    Allow,
    /// A Deny statement matches; nothing else can allow the request.
    ExplicitDeny,
    /// No statement matches: the request is denied implicitly.
    NotApplicable,
}

/// Why a policy document was rejected.
///
/// Display gives the message for MalformedPolicyDocumentException, naming statement and field,
/// e.g. `Statement 2 (Sid "AllowUse"): Condition: unsupported operator "StringEqual"`,
/// `Statement 1: Effect must be "Allow" or "Deny", found "allow"`, `Policy: not valid JSON at line 3 column 5: ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PolicyError(String);

impl PolicyError {
    /// The message, as Display shows it (the tests compare both).
    #[cfg(test)]
    pub(crate) fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

/// One request to decide.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request<'a> {
    /// The caller, e.g. `arn:aws:iam::111122223333:user/alice`.
    pub(crate) principal_arn: &'a str,
    /// The caller's 12-digit account.
    pub(crate) principal_account: &'a str,
    /// The action in its canonical AWS spelling, e.g. `kms:Encrypt`.
    pub(crate) action: &'a str,
    /// The key ARN.
    pub(crate) resource: &'a str,
    /// The request context that conditions read.
    pub(crate) conditions: &'a ConditionValues,
}

/// The request context: condition key -> value(s). Keys compare case-insensitively.
///
/// A small vector rather than a map: a request carries a handful of keys, and a linear scan
/// over them beats hashing the key.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConditionValues {
    /// Lower-cased key and its values; never an empty value list (that is an absent key).
    entries: Vec<(String, Vec<ContextValue>)>,
}

impl ConditionValues {
    /// An empty context: every condition key is absent.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key.
    pub(crate) fn set(&mut self, key: &str, value: impl Into<String>) {
        self.insert(key, vec![ContextValue::new(value.into())]);
    }

    /// Sets a multi-valued key; an empty vector makes the key absent.
    pub(crate) fn set_many(&mut self, key: &str, values: Vec<String>) {
        self.insert(key, values.into_iter().map(ContextValue::new).collect());
    }

    /// Sets a boolean key (`"true"` or `"false"`).
    pub(crate) fn set_bool(&mut self, key: &str, value: bool) {
        self.set(key, if value { "true" } else { "false" });
    }

    /// Sets a numeric key.
    pub(crate) fn set_number(&mut self, key: &str, value: i64) {
        self.set(key, value.to_string());
    }

    /// The values of a key given in lower case; `None` when absent.
    fn values(&self, lower_key: &str) -> Option<&[ContextValue]> {
        self.entries
            .iter()
            .find(|(key, _)| key == lower_key)
            .map(|(_, values)| values.as_slice())
    }

    fn insert(&mut self, key: &str, values: Vec<ContextValue>) {
        let key = key.to_lowercase();
        self.entries.retain(|(existing, _)| *existing != key);
        if !values.is_empty() {
            self.entries.push((key, values));
        }
    }
}

/// One value of a request condition key, with its numeric reading computed once.
#[derive(Clone, Debug)]
struct ContextValue {
    text: String,
    number: Option<f64>,
}

impl ContextValue {
    fn new(text: String) -> Self {
        let number = pattern::parse_number(&text);
        Self { text, number }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug)]
struct Statement {
    effect: Effect,
    principal: PrincipalMatcher,
    /// True for NotPrincipal.
    not_principal: bool,
    action: ActionMatcher,
    not_action: bool,
    resource: ResourceMatcher,
    not_resource: bool,
    condition: Condition,
}

impl Statement {
    fn matches(&self, caller: &Caller<'_>, action: Option<usize>, request: &Request<'_>) -> bool {
        self.action.matches(action, request.action) != self.not_action
            && self.principal.matches(caller) != self.not_principal
            && self.resource.matches(request.resource) != self.not_resource
            && self.condition.holds(request.conditions)
    }
}

/// The caller, with the parts of its ARN that principal matching needs sliced out once.
#[derive(Debug)]
struct Caller<'a> {
    arn: &'a str,
    account: &'a str,
    /// The partition of the caller's ARN (`aws`, `aws-cn`, ...), or "" when it is no ARN.
    partition: &'a str,
    /// For `arn:<p>:sts::<account>:assumed-role/<role>/<session>`: that account and role name.
    assumed_role: Option<(&'a str, &'a str)>,
}

impl<'a> Caller<'a> {
    fn new(request: &Request<'a>) -> Self {
        let arn = request.principal_arn;
        let (partition, service, account, resource) = match ArnParts::split(arn) {
            Some(p) => (p.partition, p.service, p.account, p.resource),
            None => ("", "", "", ""),
        };
        let assumed_role = if service == "sts" {
            resource
                .strip_prefix("assumed-role/")
                .and_then(|rest| rest.split_once('/'))
                .map(|(role, _session)| (account, role))
        } else {
            None
        };
        Self {
            arn,
            account: request.principal_account,
            partition,
            assumed_role,
        }
    }
}
