//! Authorization: who may do what to which key.
//!
//! Every operation is decided here, and the decision is a value: a [`Permit`] names the key
//! (or the caller's account, for account-level operations) and the action it was decided
//! for, and can only be made by this module. The code that acts — writing a record, asking
//! the token to encrypt or decrypt, changing a grant — takes a `&Permit` and checks that it
//! is for that key and action, so an operation cannot run on a path that skipped the
//! decision.
//!
//! A key operation is allowed when the key's policy allows it and no statement denies it, or
//! when no statement applies and a grant allows it (an explicit deny in the policy beats any
//! grant). Account-level operations (CreateKey, ListKeys, ListAliases, GenerateRandom,
//! ListRetirableGrants) are allowed to every principal of the account they act in: Lockbox
//! has no IAM, whose identity policies decide these in AWS.

use std::collections::HashMap;
use std::sync::Arc;

use lockbox_api::{
    Caller, EncryptionContext, ErrorKind, GrantOperation, KeyArn, KmsError, PrincipalKind,
};
use lockbox_store::{GrantRecord, KeyRecord};
use parking_lot::RwLock;

pub(crate) use crate::audit::hex;
use crate::engine::Engine;
use crate::error::from_store;
use crate::policy::{ConditionValues, Decision, Policy, Request};

/// An operation's decision: it may run, on this key, for this action.
#[derive(Debug)]
pub(crate) struct Permit {
    key: Option<lockbox_api::KeyId>,
    action: &'static str,
}

impl Permit {
    /// Checks that this permit was decided for `action` on key `key`. A mismatch is a bug in
    /// the engine; it fails the operation rather than run it undecided.
    pub(crate) fn require(&self, key: &KeyRecord, action: &'static str) -> Result<(), KmsError> {
        if self.key == Some(key.id) && self.action == action {
            return Ok(());
        }
        tracing::error!(permit_action = self.action, action, key = %key.id,
            "an operation ran with a permit decided for something else");
        Err(KmsError::internal(
            "The operation was not authorized for this key.",
        ))
    }

    /// Checks that this permit was decided for account-level `action`.
    pub(crate) fn require_account(&self, action: &'static str) -> Result<(), KmsError> {
        if self.key.is_none() && self.action == action {
            return Ok(());
        }
        Err(KmsError::internal("The operation was not authorized."))
    }
}

/// One call in progress: who makes it, and what the audit trail should say about it.
pub(crate) struct Call<'a> {
    pub(crate) caller: &'a Caller,
    /// The key the call acted on, once resolved (for the audit record).
    pub(crate) key: Option<KeyArn>,
    /// The alias the request named the key by, if it did (`kms:RequestAlias`).
    pub(crate) alias: Option<String>,
    /// The grant that allowed the call, if one did.
    pub(crate) grant: Option<[u8; 32]>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(caller: &'a Caller) -> Self {
        Call {
            caller,
            key: None,
            alias: None,
            grant: None,
        }
    }
}

/// What an operation tells the decision besides the caller and the key.
#[derive(Default)]
pub(crate) struct Facts<'r> {
    /// The encryption context of the request (Encrypt, Decrypt, GenerateDataKey*, ...).
    pub(crate) context: Option<&'r EncryptionContext>,
    /// The encryption algorithm of a cryptographic operation (`kms:EncryptionAlgorithm`).
    /// A field of its own rather than an entry of `extra`, so that the hot path allocates
    /// nothing for a policy that reads no conditions.
    pub(crate) algorithm: Option<&'static str>,
    /// Extra condition keys the operation sets (rotation period, deletion window, ...).
    pub(crate) extra: Vec<(&'static str, Value)>,
    /// For CreateGrant through a grant: the new grant's operations and constraints.
    pub(crate) new_grant: Option<(&'r [GrantOperation], GrantShape<'r>)>,
}

/// The constraints of a grant being created, as far as a parent grant's check needs them.
#[derive(Clone, Copy, Default)]
pub(crate) struct GrantShape<'r> {
    pub(crate) subset: Option<&'r EncryptionContext>,
    pub(crate) equals: Option<&'r EncryptionContext>,
}

/// A condition value an operation sets.
pub(crate) enum Value {
    Str(String),
    Many(Vec<String>),
    Bool(bool),
    Number(i64),
}

/// Operations AWS KMS allows on a key of another account (when its policy says so).
const CROSS_ACCOUNT_ACTIONS: &[&str] = &[
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
];

/// Parsed policies, so that a call parses none: per key (checked against the record's
/// document) and the default policy per account.
#[derive(Default)]
pub(crate) struct PolicyCache {
    keys: RwLock<HashMap<lockbox_api::KeyId, (String, Arc<Policy>)>>,
    defaults: RwLock<HashMap<String, Arc<Policy>>>,
}

/// The default key policy of `account`: its root (every principal of the account, in
/// Lockbox) may do everything. The same document AWS KMS writes.
pub(crate) fn default_policy(partition: &str, account: &str) -> String {
    format!(
        "{{\n  \"Version\": \"2012-10-17\",\n  \"Id\": \"key-default-1\",\n  \"Statement\": [\n    \
         {{\n      \"Sid\": \"Enable IAM User Permissions\",\n      \"Effect\": \"Allow\",\n      \
         \"Principal\": {{\n        \"AWS\": \"arn:{partition}:iam::{account}:root\"\n      }},\n      \
         \"Action\": \"kms:*\",\n      \"Resource\": \"*\"\n    }}\n  ]\n}}"
    )
}

/// Parses a policy for a request, with the error AWS gives a malformed one.
pub(crate) fn parse_policy(document: &str) -> Result<Policy, KmsError> {
    if document.len() > lockbox_api::MAX_POLICY_LEN {
        return Err(KmsError::new(
            ErrorKind::MalformedPolicyDocument,
            format!(
                "The policy is {} bytes; a key policy may have at most {} bytes.",
                document.len(),
                lockbox_api::MAX_POLICY_LEN
            ),
        ));
    }
    Policy::parse(document)
        .map_err(|e| KmsError::new(ErrorKind::MalformedPolicyDocument, e.to_string()))
}

impl Engine {
    /// The parsed policy of key `r`.
    pub(crate) fn policy_of(&self, r: &KeyRecord) -> Result<Arc<Policy>, KmsError> {
        match &r.policy {
            None => {
                if let Some(p) = self.policies.defaults.read().get(&r.account) {
                    return Ok(p.clone());
                }
                let p = Arc::new(parse_policy(&default_policy(
                    self.arn_scope().partition(),
                    &r.account,
                ))?);
                self.policies
                    .defaults
                    .write()
                    .insert(r.account.clone(), p.clone());
                Ok(p)
            }
            Some(doc) => {
                if let Some((d, p)) = self.policies.keys.read().get(&r.id)
                    && d == doc
                {
                    return Ok(p.clone());
                }
                let p = Arc::new(parse_policy(doc).map_err(|e| {
                    tracing::error!(key = %r.id, error = %e, "a stored key policy does not parse");
                    KmsError::internal("The key's stored policy could not be read.")
                })?);
                self.policies
                    .keys
                    .write()
                    .insert(r.id, (doc.clone(), p.clone()));
                Ok(p)
            }
        }
    }

    /// Decides whether `call`'s caller may perform `action` on key `r`.
    pub(crate) fn authorize(
        &self,
        call: &mut Call<'_>,
        action: &'static str,
        r: &KeyRecord,
        facts: Facts<'_>,
    ) -> Result<Permit, KmsError> {
        let arn = self.arn(r);
        call.key = Some(arn.clone());
        let caller = call.caller;
        let cross_account = caller.account() != r.account;
        if cross_account && !CROSS_ACCOUNT_ACTIONS.contains(&action) {
            return Err(KmsError::new(
                ErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {action} on resource: {arn}: \
                     {action} cannot be used on a key in another account",
                    caller.principal()
                ),
            ));
        }
        let policy = self.policy_of(r)?;
        // Most policies (the default among them) have no conditions and name the resource
        // "*": then the context and the ARN's text are not built at all.
        let conditions = if policy.reads_conditions() {
            self.conditions(call, r, &facts)
        } else {
            ConditionValues::new()
        };
        let arn_text = if policy.reads_resource() {
            arn.to_string()
        } else {
            String::new()
        };
        let request = Request {
            principal_arn: caller.principal().arn(),
            principal_account: caller.account(),
            action,
            resource: &arn_text,
            conditions: &conditions,
        };
        let denied = |why: &str| {
            KmsError::new(
                ErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {action} on resource: {arn} {why}",
                    caller.principal()
                ),
            )
        };
        match policy.evaluate(&request) {
            Decision::Allow => Ok(Permit {
                key: Some(r.id),
                action,
            }),
            Decision::ExplicitDeny => {
                Err(denied("with an explicit deny in a resource-based policy"))
            }
            Decision::NotApplicable => match self.grant_allowing(caller, action, r, &facts)? {
                Some(g) => {
                    call.grant = Some(g.id);
                    Ok(Permit {
                        key: Some(r.id),
                        action,
                    })
                }
                None => Err(denied(&format!(
                    "because no resource-based policy or grant allows the {action} action"
                ))),
            },
        }
    }

    /// Decides an account-level operation: allowed in the caller's own account.
    pub(crate) fn authorize_account(
        &self,
        call: &Call<'_>,
        action: &'static str,
        account: &str,
    ) -> Result<Permit, KmsError> {
        if call.caller.account() != account {
            return Err(KmsError::new(
                ErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {action} in account {account}",
                    call.caller.principal()
                ),
            ));
        }
        Ok(Permit { key: None, action })
    }

    /// Decides RetireGrant, which no policy governs: the grant's retiring principal, its
    /// grantee when the grant allows RetireGrant, or the root of the account that issued it.
    pub(crate) fn authorize_retire(
        &self,
        call: &mut Call<'_>,
        r: &KeyRecord,
        g: &GrantRecord,
    ) -> Result<Permit, KmsError> {
        call.key = Some(self.arn(r));
        let p = call.caller.principal();
        let allowed = g.retiring.as_deref() == Some(p.arn())
            || (g.grantee == p.arn() && g.operations.contains(&GrantOperation::RetireGrant))
            || (p.kind() == PrincipalKind::Root && p.account() == g.issuing_account);
        if !allowed {
            return Err(KmsError::new(
                ErrorKind::AccessDenied,
                format!(
                    "User: {p} is not authorized to perform: kms:RetireGrant on grant {}: it is \
                     neither the grant's retiring principal, nor its grantee with RetireGrant, \
                     nor the root of the account that issued it",
                    hex(&g.id)
                ),
            ));
        }
        Ok(Permit {
            key: Some(r.id),
            action: "kms:RetireGrant",
        })
    }

    fn conditions(&self, call: &Call<'_>, r: &KeyRecord, facts: &Facts<'_>) -> ConditionValues {
        let mut c = ConditionValues::new();
        c.set("kms:CallerAccount", call.caller.account());
        c.set("aws:PrincipalArn", call.caller.principal().arn());
        c.set("aws:PrincipalAccount", call.caller.account());
        c.set("kms:KeySpec", r.spec.as_str());
        c.set("kms:KeyUsage", r.usage.as_str());
        c.set("kms:KeyOrigin", r.origin.as_str());
        if let Some(alias) = &call.alias {
            c.set("kms:RequestAlias", alias.as_str());
        }
        if let Some(ctx) = facts.context {
            let mut keys = Vec::new();
            for (k, v) in ctx.iter() {
                c.set(&format!("kms:EncryptionContext:{k}"), v);
                keys.push(k.to_owned());
            }
            c.set_many("kms:EncryptionContextKeys", keys);
        }
        if let Some(algorithm) = facts.algorithm {
            c.set("kms:EncryptionAlgorithm", algorithm);
        }
        for (k, v) in &facts.extra {
            match v {
                Value::Str(s) => c.set(k, s.as_str()),
                Value::Many(m) => c.set_many(k, m.clone()),
                Value::Bool(b) => c.set_bool(k, *b),
                Value::Number(n) => c.set_number(k, *n),
            }
        }
        c
    }

    /// A grant of key `r` that lets `caller` perform `action`, if there is one.
    fn grant_allowing(
        &self,
        caller: &Caller,
        action: &'static str,
        r: &KeyRecord,
        facts: &Facts<'_>,
    ) -> Result<Option<GrantRecord>, KmsError> {
        let Some(op) = grant_operation(action) else {
            return Ok(None);
        };
        let grants = self
            .store
            .grants_of(r.id)
            .map_err(|e| from_store("read grants", e))?;
        Ok(grants.into_iter().find(|g| {
            principal_matches(&g.grantee, caller)
                && g.operations.contains(&op)
                && constraints_hold(g, op, facts)
        }))
    }
}

/// True when `named` (a grantee) names `caller`: exactly, or as the root of its account.
fn principal_matches(named: &str, caller: &Caller) -> bool {
    let p = caller.principal();
    named == p.arn()
        || lockbox_api::Principal::parse(named)
            .is_ok_and(|n| n.kind() == PrincipalKind::Root && n.account() == p.account())
}

fn constraints_hold(g: &GrantRecord, op: GrantOperation, facts: &Facts<'_>) -> bool {
    if op == GrantOperation::CreateGrant {
        // A grant that allows CreateGrant allows only grants within itself: no operation it
        // lacks, and constraints at least as strict as its own.
        let Some((ops, shape)) = &facts.new_grant else {
            return false;
        };
        if !ops.iter().all(|o| g.operations.contains(o)) {
            return false;
        }
        return match (&g.context_equals, &g.context_subset) {
            (Some(eq), _) => shape.equals.is_some_and(|e| same_pairs(e, eq)),
            (None, Some(sub)) => {
                shape.equals.is_some_and(|e| contains_pairs(e, sub))
                    || shape.subset.is_some_and(|s| contains_pairs(s, sub))
            }
            (None, None) => true,
        };
    }
    if !op.takes_encryption_context() {
        return true;
    }
    let empty = EncryptionContext::empty();
    let ctx = facts.context.unwrap_or(&empty);
    if let Some(eq) = &g.context_equals
        && !same_pairs(ctx, eq)
    {
        return false;
    }
    if let Some(sub) = &g.context_subset
        && !contains_pairs(ctx, sub)
    {
        return false;
    }
    true
}

fn same_pairs(ctx: &EncryptionContext, pairs: &[(String, String)]) -> bool {
    ctx.as_map().len() == pairs.len() && contains_pairs(ctx, pairs)
}

fn contains_pairs(ctx: &EncryptionContext, pairs: &[(String, String)]) -> bool {
    pairs
        .iter()
        .all(|(k, v)| ctx.as_map().get(k).is_some_and(|have| have == v))
}

/// The grant operation that allows `action`, if grants can allow it.
pub(crate) fn grant_operation(action: &str) -> Option<GrantOperation> {
    let name = action.strip_prefix("kms:")?;
    name.parse().ok()
}
