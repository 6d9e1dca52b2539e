//! The Condition element: operators, set qualifiers, condition keys and their evaluation.

use super::parse::{Json, Location};
use super::pattern::{ArnPattern, Glob, parse_number};
use super::{ConditionValues, ContextValue, PolicyError};

/// A statement's Condition: every clause must hold (operators AND, keys AND).
#[derive(Debug, Default)]
pub(super) struct Condition {
    clauses: Vec<Clause>,
}

impl Condition {
    /// True when the statement has no Condition (it holds for every request context).
    pub(super) fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    pub(super) fn holds(&self, context: &ConditionValues) -> bool {
        self.clauses.iter().all(|clause| clause.holds(context))
    }

    /// Parses `{ Operator: { ConditionKey: value-or-array } }`.
    pub(super) fn parse(json: &Json, at: &Location<'_>) -> Result<Self, PolicyError> {
        let Json::Object(operators) = json else {
            return Err(at.error("Condition must be a JSON object"));
        };
        let mut clauses = Vec::new();
        for (name, keys) in operators {
            let Some(operator) = Operator::parse(name) else {
                return Err(at.error(format!("Condition: unsupported operator \"{name}\"")));
            };
            let Json::Object(keys) = keys else {
                return Err(at.error(format!("Condition: {name}: must be a JSON object")));
            };
            if keys.is_empty() {
                return Err(at.error(format!("Condition: {name}: names no condition key")));
            }
            for (key, values) in keys {
                let field = format!("Condition: {name}: {key}");
                check_key(key).map_err(|why| at.error(format!("Condition: {name}: {why}")))?;
                let strings =
                    condition_values(values).map_err(|why| at.error(format!("{field}: {why}")))?;
                let values = CompiledValues::new(operator.kind, &strings)
                    .map_err(|why| at.error(format!("{field}: {why}")))?;
                clauses.push(Clause {
                    operator,
                    key: key.to_lowercase(),
                    values,
                });
            }
        }
        Ok(Self { clauses })
    }
}

/// One condition key under one operator.
#[derive(Debug)]
struct Clause {
    operator: Operator,
    /// Lower-cased: condition keys compare case-insensitively.
    key: String,
    values: CompiledValues,
}

impl Clause {
    fn holds(&self, context: &ConditionValues) -> bool {
        let present = context.values(&self.key);
        if let CompiledValues::Null(expect_absent) = &self.values {
            return expect_absent
                .iter()
                .any(|&absent| absent == present.is_none());
        }
        let op = &self.operator;
        let Some(request) = present else {
            return op.if_exists
                || match op.qualifier {
                    Some(Qualifier::ForAllValues) => true,
                    Some(Qualifier::ForAnyValue) => false,
                    None => op.negated,
                };
        };
        let satisfies = |value: &ContextValue| self.values.any_matches(value) != op.negated;
        match op.qualifier {
            Some(Qualifier::ForAllValues) => request.iter().all(satisfies),
            Some(Qualifier::ForAnyValue) => request.iter().any(satisfies),
            // Positive: some request value matches. Negated: no request value matches.
            None if op.negated => request.iter().all(satisfies),
            None => request.iter().any(satisfies),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Qualifier {
    ForAnyValue,
    ForAllValues,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Arn,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    Bool,
    Null,
}

/// A parsed operator name such as `ForAllValues:StringNotLikeIfExists`.
#[derive(Clone, Copy, Debug)]
struct Operator {
    qualifier: Option<Qualifier>,
    kind: Kind,
    /// StringNotEquals, StringNotEqualsIgnoreCase, StringNotLike, ArnNot*, NumericNotEquals.
    negated: bool,
    if_exists: bool,
}

impl Operator {
    /// Operator names are case-sensitive, as in IAM.
    fn parse(name: &str) -> Option<Self> {
        let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(Qualifier::ForAnyValue), rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(Qualifier::ForAllValues), rest)
        } else {
            (None, name)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let (kind, negated) = match base {
            "StringEquals" => (Kind::StringEquals, false),
            "StringNotEquals" => (Kind::StringEquals, true),
            "StringEqualsIgnoreCase" => (Kind::StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (Kind::StringEqualsIgnoreCase, true),
            "StringLike" => (Kind::StringLike, false),
            "StringNotLike" => (Kind::StringLike, true),
            // IAM documents ArnEquals and ArnLike as the same comparison, wildcards included.
            "ArnEquals" | "ArnLike" => (Kind::Arn, false),
            "ArnNotEquals" | "ArnNotLike" => (Kind::Arn, true),
            "NumericEquals" => (Kind::NumericEquals, false),
            "NumericNotEquals" => (Kind::NumericEquals, true),
            "NumericLessThan" => (Kind::NumericLessThan, false),
            "NumericLessThanEquals" => (Kind::NumericLessThanEquals, false),
            "NumericGreaterThan" => (Kind::NumericGreaterThan, false),
            "NumericGreaterThanEquals" => (Kind::NumericGreaterThanEquals, false),
            "Bool" => (Kind::Bool, false),
            "Null" if qualifier.is_none() && !if_exists => (Kind::Null, false),
            _ => return None,
        };
        Some(Self {
            qualifier,
            kind,
            negated,
            if_exists,
        })
    }
}

/// The policy values of one clause, compiled for its operator.
#[derive(Debug)]
enum CompiledValues {
    Strings(Vec<String>),
    /// Compared by Unicode lower case.
    StringsIgnoreCase(Vec<String>),
    Globs(Vec<Glob>),
    Arns(Vec<ArnPattern>),
    Numbers(Kind, Vec<f64>),
    Bools(Vec<bool>),
    /// For each policy value: true = "the key must be absent".
    Null(Vec<bool>),
}

impl CompiledValues {
    fn new(kind: Kind, values: &[String]) -> Result<Self, String> {
        Ok(match kind {
            Kind::StringEquals => Self::Strings(values.to_vec()),
            Kind::StringEqualsIgnoreCase => Self::StringsIgnoreCase(values.to_vec()),
            Kind::StringLike => Self::Globs(values.iter().map(|v| Glob::new(v)).collect()),
            Kind::Arn => Self::Arns(
                values
                    .iter()
                    .map(|v| {
                        ArnPattern::new(v).ok_or_else(|| format!("value \"{v}\" is not an ARN"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Kind::NumericEquals
            | Kind::NumericLessThan
            | Kind::NumericLessThanEquals
            | Kind::NumericGreaterThan
            | Kind::NumericGreaterThanEquals => Self::Numbers(
                kind,
                values
                    .iter()
                    .map(|v| {
                        parse_number(v).ok_or_else(|| format!("value \"{v}\" is not a number"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Bool => Self::Bools(
                values
                    .iter()
                    .map(|v| {
                        parse_bool(v).ok_or_else(|| format!("value \"{v}\" is not true or false"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Null => Self::Null(
                values
                    .iter()
                    .map(|v| {
                        parse_bool(v).ok_or_else(|| format!("value \"{v}\" is not true or false"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// Whether one request value matches at least one policy value.
    fn any_matches(&self, value: &ContextValue) -> bool {
        let text = value.text.as_str();
        match self {
            Self::Strings(policy) => policy.iter().any(|p| p == text),
            Self::StringsIgnoreCase(policy) => policy.iter().any(|p| eq_ignore_case(p, text)),
            Self::Globs(policy) => policy.iter().any(|p| p.matches(text)),
            Self::Arns(policy) => policy.iter().any(|p| p.matches(text)),
            Self::Numbers(kind, policy) => {
                let Some(n) = value.number else {
                    return false;
                };
                policy.iter().any(|&p| match kind {
                    Kind::NumericEquals => n == p,
                    Kind::NumericLessThan => n < p,
                    Kind::NumericLessThanEquals => n <= p,
                    Kind::NumericGreaterThan => n > p,
                    _ => n >= p,
                })
            }
            Self::Bools(policy) => {
                parse_bool(text).is_some_and(|request| policy.contains(&request))
            }
            // Null is decided on presence alone, in Clause::holds.
            Self::Null(_) => false,
        }
    }
}

/// Unicode case-insensitive equality without allocating.
fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A condition's values: a string, number or bool, or a non-empty array of those; numbers and
/// bools become their JSON text.
fn condition_values(json: &Json) -> Result<Vec<String>, String> {
    let scalar = |json: &Json| match json {
        Json::String(s) if s.contains("${") => Err(format!(
            "value \"{s}\" uses a policy variable, which Lockbox does not support"
        )),
        Json::String(s) | Json::Number(s) => Ok(s.clone()),
        Json::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "values must be strings, numbers or booleans, found {}",
            other.kind()
        )),
    };
    match json {
        Json::Array(items) if items.is_empty() => Err("empty value list".to_owned()),
        Json::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

/// Every `kms:` condition key AWS defines (lower case, without the prefix), as a typo guard.
const KMS_KEYS: &[&str] = &[
    "bypasspolicylockoutsafetycheck",
    "calleraccount",
    "customermasterkeyspec",
    "customermasterkeyusage",
    "datakeypairspec",
    "encryptionalgorithm",
    "encryptioncontextkeys",
    "expirationmodel",
    "grantconstrainttype",
    "grantisforawsresource",
    "grantoperations",
    "granteeprincipal",
    "keyagreementalgorithm",
    "keyorigin",
    "keyspec",
    "keyusage",
    "macalgorithm",
    "messagetype",
    "multiregion",
    "multiregionkeytype",
    "primaryregion",
    "reencryptonsamekey",
    "replicaregion",
    "requestalias",
    "resourcealiases",
    "retiringprincipal",
    "rotationperiodindays",
    "schedulekeydeletionpendingwindowindays",
    "signingalgorithm",
    "validto",
    "viaservice",
    "wrappingalgorithm",
    "wrappingkeyspec",
];

/// `kms:` keys that carry a name of their own after a second colon.
const KMS_KEY_FAMILIES: &[&str] = &["encryptioncontext:", "recipientattestation:"];

/// A condition key is `service:name`; a `kms:` key must be one AWS defines.
pub(super) fn check_key(key: &str) -> Result<(), String> {
    let Some((service, name)) = key.split_once(':') else {
        return Err(format!(
            "condition key \"{key}\" is not of the form service:name"
        ));
    };
    if service.is_empty() || name.is_empty() {
        return Err(format!(
            "condition key \"{key}\" is not of the form service:name"
        ));
    }
    if !service.eq_ignore_ascii_case("kms") {
        return Ok(());
    }
    let name = name.to_ascii_lowercase();
    let known = KMS_KEYS.contains(&name.as_str())
        || KMS_KEY_FAMILIES.iter().any(|family| {
            name.strip_prefix(family)
                .is_some_and(|rest| !rest.is_empty())
        });
    if known {
        Ok(())
    } else {
        Err(format!("unknown KMS condition key \"{key}\""))
    }
}
