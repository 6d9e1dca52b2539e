//! Authorization: who may do what to which key, decided once per call and carried as a proof.
//!
//! Every operation is decided here, and the decision is a value: an [`Authorized`] carries
//! the key record (in a state the operation's row allows) and the [`Action`] it was decided
//! for, and only this module can make one. The paths that act — a record write
//! ([`Engine::write_key`]), the token's encrypt and decrypt, alias and grant writes — take it
//! as an argument and use the key *from it*, so an operation that skipped the decision does
//! not compile, and nothing needs checking on the line after the decision (the model is
//! rustls's `HandshakeSignatureValid`). Account-level operations get an
//! [`AccountAuthorized`], which carries the account.
//!
//! A key operation is allowed when the key's policy allows it and no statement denies it, or
//! when no statement applies and a grant allows it (an explicit deny in the policy beats any
//! grant). Account-level operations (CreateKey, ListKeys, ListAliases, GenerateRandom,
//! ListRetirableGrants) are allowed to every principal of the account they act in: Lockbox
//! has no IAM, whose identity policies decide these in AWS.
//!
//! Nothing outside this module can build a proof: its fields are private and every
//! constructor is a decision.
//!
//! ```
//! // The type can be named from outside ...
//! fn takes(_: lockbox::authz::Authorized) {}
//! ```
//!
//! ```compile_fail,E0451
//! // ... but not built: its fields are private to `authz`.
//! fn forge() -> lockbox::authz::Authorized {
//!     lockbox::authz::Authorized { key: todo!(), action: lockbox::api::Action::Decrypt }
//! }
//! ```
//!
//! Invariant: authz imports only `core` (and the policy language), never an operation.

use std::sync::Arc;

use lockbox_api::{
    Action, Caller, EncryptionContext, ErrorKind, GrantOperation, KmsError, PrincipalKind,
};
use lockbox_store::{GrantRecord, KeyRecord};

use crate::audit::hex;
use crate::core::{Call, Engine};
use crate::error::from_store;
use crate::policy::{ConditionValues, Decision, Policy, Request, keys};

/// Proof that the call's caller may perform an action on a key, and that the key's state
/// allows the operation (its row's `KeyStates`). Holds the key's record: the paths that act
/// on the key take this and read the key from it.
#[must_use = "an authorization is for acting on the key it names"]
pub struct Authorized {
    key: Arc<KeyRecord>,
    action: Action,
}

impl Authorized {
    /// The authorized key's record, as it was when the decision was made.
    pub(crate) fn record(&self) -> &KeyRecord {
        &self.key
    }
}

/// Proof that the call's caller may perform an account-level action in an account.
#[must_use = "an authorization is for acting in the account it names"]
pub struct AccountAuthorized<'a> {
    account: &'a str,
}

impl<'a> AccountAuthorized<'a> {
    /// The account the decision was made for.
    pub(crate) fn account(&self) -> &'a str {
        self.account
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

    /// Decides whether `call`'s caller may perform `action` on key `r`, whose state must be
    /// one the call's operation allows: the proof the operation acts with.
    pub(crate) fn authorize(
        &self,
        call: &mut Call<'_>,
        action: Action,
        r: Arc<KeyRecord>,
        facts: Facts<'_>,
    ) -> Result<Authorized, KmsError> {
        self.decide(call, action, &r, &facts)?;
        call.basis.push((r.clone(), call.grant));
        // Imported material that has expired makes the key PendingImport at once, before
        // maintenance takes the material away.
        // A refused key's session copies go too: another node may have disabled it.
        call.op
            .key_states()
            .check(r.state_at(self.clock.now()), || self.arn(&r))
            .inspect_err(|_| self.drop_session_copies(&r))?;
        Ok(Authorized { key: r, action })
    }

    /// Decides whether `call`'s caller may perform `action` on key `r`, without a proof and
    /// without a state check: for a key the operation does not act on (the key UpdateAlias
    /// moves an alias away from).
    pub(crate) fn check_allowed(
        &self,
        call: &mut Call<'_>,
        action: Action,
        r: &KeyRecord,
    ) -> Result<(), KmsError> {
        self.decide(call, action, r, &Facts::default())
    }

    fn decide(
        &self,
        call: &mut Call<'_>,
        action: Action,
        r: &KeyRecord,
        facts: &Facts<'_>,
    ) -> Result<(), KmsError> {
        let arn = self.arn(r);
        call.key = Some(arn.clone());
        let caller = call.caller;
        let cross_account = caller.account() != r.account;
        if cross_account && !action.cross_account() {
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
            self.conditions(call, r, facts)
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
            action: action.as_str(),
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
            Decision::Allow => Ok(()),
            Decision::ExplicitDeny => {
                Err(denied("with an explicit deny in a resource-based policy"))
            }
            Decision::NotApplicable => match self.grant_allowing(caller, action, r, facts)? {
                Some(g) => {
                    call.grant = Some(g.id);
                    Ok(())
                }
                None => Err(denied(&format!(
                    "because no resource-based policy or grant allows the {action} action"
                ))),
            },
        }
    }

    /// Decides an account-level operation: allowed in the caller's own account.
    pub(crate) fn authorize_account<'a>(
        &self,
        call: &Call<'_>,
        action: Action,
        account: &'a str,
    ) -> Result<AccountAuthorized<'a>, KmsError> {
        if call.caller.account() != account {
            return Err(KmsError::new(
                ErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {action} in account {account}",
                    call.caller.principal()
                ),
            ));
        }
        Ok(AccountAuthorized { account })
    }

    /// Decides RetireGrant, which no policy governs: the grant's retiring principal, its
    /// grantee when the grant allows RetireGrant, or the root of the account that issued it.
    pub(crate) fn authorize_retire(
        &self,
        call: &mut Call<'_>,
        r: Arc<KeyRecord>,
        g: &GrantRecord,
    ) -> Result<Authorized, KmsError> {
        call.key = Some(self.arn(&r));
        let p = call.caller.principal();
        let allowed = g.retiring.as_deref() == Some(p.arn())
            || (g.grantee == p.arn() && g.operations.contains(&GrantOperation::RetireGrant))
            || (p.kind() == PrincipalKind::Root && p.account() == g.issuing_account);
        if !allowed {
            return Err(KmsError::new(
                ErrorKind::AccessDenied,
                format!(
                    "User: {p} is not authorized to perform: {} on grant {}: it is \
                     neither the grant's retiring principal, nor its grantee with RetireGrant, \
                     nor the root of the account that issued it",
                    Action::RetireGrant,
                    hex(&g.id)
                ),
            ));
        }
        Ok(Authorized {
            key: r,
            action: Action::RetireGrant,
        })
    }

    /// Changes the authorized key's record with `change` and stores it durably: the one way
    /// an operation writes a key record. Returns the record as written.
    ///
    /// When another node changed the record since it was authorized only by claiming
    /// encryption counts (the bookkeeping every Encrypt does now and then), the change is made
    /// again on the record as it is now. Any other change (state, policy, tags, material...)
    /// fails the call with nothing written ([`crate::CONFLICT_MESSAGE`]): its retry is
    /// resolved and authorized afresh.
    pub(crate) fn write_key(
        &self,
        auth: Authorized,
        mut change: impl FnMut(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let op = auth.action.as_str();
        let authorized = auth.key;
        let mut r = (*authorized).clone();
        for _ in 0..crate::core::CONFLICT_RETRIES {
            change(&mut r)?;
            if self.try_put(op, &r)? {
                return Ok(r);
            }
            let Some(now) = self.record_fresh(authorized.slot())? else {
                break;
            };
            if !same_but_reservations(&authorized, &now) {
                break;
            }
            r = Arc::unwrap_or_clone(now);
        }
        Err(from_store(op, lockbox_store::StoreError::Conflict))
    }

    /// The lockout safety check: the new policy must let the caller change it again.
    pub(crate) fn check_lockout(
        &self,
        call: &Call<'_>,
        key_arn: &lockbox_api::KeyArn,
        policy: &Policy,
    ) -> Result<(), KmsError> {
        let mut c = ConditionValues::new();
        c.set(keys::CALLER_ACCOUNT, call.caller.account());
        c.set(keys::PRINCIPAL_ARN, call.caller.principal().arn());
        c.set(keys::PRINCIPAL_ACCOUNT, call.caller.account());
        c.set_bool(keys::BYPASS_POLICY_LOCKOUT_SAFETY_CHECK, false);
        let resource = key_arn.to_string();
        let request = Request {
            principal_arn: call.caller.principal().arn(),
            principal_account: call.caller.account(),
            action: Action::PutKeyPolicy.as_str(),
            resource: &resource,
            conditions: &c,
        };
        if policy.evaluate(&request) == Decision::Allow {
            return Ok(());
        }
        Err(KmsError::new(
            ErrorKind::MalformedPolicyDocument,
            format!(
                "The new key policy will not allow you to update the key policy in the future: \
                 it does not allow {} {}. Set BypassPolicyLockoutSafetyCheck to \
                 apply it anyway.",
                call.caller.principal(),
                Action::PutKeyPolicy
            ),
        ))
    }

    fn conditions(&self, call: &Call<'_>, r: &KeyRecord, facts: &Facts<'_>) -> ConditionValues {
        let mut c = ConditionValues::new();
        c.set(keys::CALLER_ACCOUNT, call.caller.account());
        c.set(keys::PRINCIPAL_ARN, call.caller.principal().arn());
        c.set(keys::PRINCIPAL_ACCOUNT, call.caller.account());
        c.set(keys::KEY_SPEC, r.spec.as_str());
        c.set(keys::KEY_USAGE, r.usage.as_str());
        c.set(keys::KEY_ORIGIN, r.origin.as_str());
        if let Some(alias) = &call.alias {
            c.set(keys::REQUEST_ALIAS, alias.as_str());
        }
        if let Some(ctx) = facts.context {
            let mut keys = Vec::new();
            for (k, v) in ctx.iter() {
                c.set(&format!("{}{k}", keys::ENCRYPTION_CONTEXT_PREFIX), v);
                keys.push(k.to_owned());
            }
            c.set_many(keys::ENCRYPTION_CONTEXT_KEYS, keys);
        }
        if let Some(algorithm) = facts.algorithm {
            c.set(keys::ENCRYPTION_ALGORITHM, algorithm);
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
        action: Action,
        r: &KeyRecord,
        facts: &Facts<'_>,
    ) -> Result<Option<GrantRecord>, KmsError> {
        let Some(op) = action.grant_operation() else {
            return Ok(None);
        };
        let grants = self
            .store
            .grants_of(r.slot())
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

/// Whether `a` and `b` differ at most in their materials' encryption reservations.
pub(crate) fn same_but_reservations(a: &KeyRecord, b: &KeyRecord) -> bool {
    let unreserved = |r: &KeyRecord| {
        let mut r = r.clone();
        for m in &mut r.materials {
            m.encryptions_reserved = 0;
        }
        r
    };
    unreserved(a) == unreserved(b)
}

impl Engine {
    /// Strict consistency: whether every authorization `call` rested on still holds now (its
    /// key record unchanged but for encryption counts, its grant not retired or revoked).
    /// Under default consistency, always true; and for calls that change a key, whose write
    /// is made only over the record they were authorized on (see [`Engine::write_key`]).
    pub(crate) fn basis_holds(&self, call: &Call<'_>) -> Result<bool, KmsError> {
        if !self.store.is_strict() || call.op.audit_class() == lockbox_api::AuditClass::Write {
            return Ok(true);
        }
        for (read, grant) in &call.basis {
            let slot = read.slot();
            let Some(now) = self.record_fresh(slot)? else {
                return Ok(false);
            };
            if !same_but_reservations(read, &now) {
                return Ok(false);
            }
            if let Some(id) = grant
                && self
                    .store
                    .grant(slot, id)
                    .map_err(|e| from_store("read grants", e))?
                    .is_none()
            {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use lockbox_api::{Action, GrantOperation};

    /// Grants allow an action through the table's `grant_operation()`; before the table, the
    /// action's name was parsed as a grant operation. The two agree on every action.
    #[test]
    fn a_grant_allows_the_actions_whose_name_is_a_grant_operation() {
        for a in Action::ALL {
            let parsed = a.name().parse::<GrantOperation>().ok();
            assert_eq!(a.grant_operation(), parsed, "{a}");
        }
        for g in GrantOperation::ALL {
            let a = Action::from_name(g.as_str()).expect("every grant operation is an action");
            assert_eq!(a.grant_operation(), Some(*g));
        }
    }
}
