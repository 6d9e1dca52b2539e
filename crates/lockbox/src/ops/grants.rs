//! The grant operations: CreateGrant (a grant that allows CreateGrant allows only grants
//! within itself; a `Name` makes retries idempotent), ListGrants, ListRetirableGrants,
//! RetireGrant, RevokeGrant; and grant tokens. Grants are decided in `authz`.

use lockbox_api::*;
use lockbox_store::{GrantRecord, KeyRecord, StoreError};

use crate::audit::hex;
use crate::authz::{Authorized, Facts, GrantShape, Value};
use crate::core::{
    Aliases, Call, Engine, check_limit, invalid_marker, marker_position, opaque_marker,
};
use crate::error::{from_store, from_token};
use crate::policy::keys;

/// Grant tokens are `lbgt1` followed by the key id and the grant id in hex: they name a
/// grant, and confer nothing by themselves (the grantee must still be the caller).
const GRANT_TOKEN_PREFIX: &str = "lbgt1";

/// Refuses a request whose grant tokens are not tokens Lockbox issued.
pub(super) fn check_grant_tokens(tokens: &GrantTokens) -> Result<(), KmsError> {
    for t in tokens.as_slice() {
        parse_grant_token(t)?;
    }
    Ok(())
}

impl Engine {
    pub(crate) fn create_grant(
        &self,
        call: &mut Call<'_>,
        req: CreateGrantRequest,
    ) -> Result<CreateGrantResponse, KmsError> {
        check_grant_tokens(&req.grant_tokens)?;
        check_grant_request(&req)?;
        let _w = self.writes.lock();
        let r = self.resolve(call, &req.key_id, Aliases::Refused)?;
        let c = req.constraints.clone().unwrap_or_default();
        let mut constraint_types = Vec::new();
        if c.encryption_context_equals.is_some() {
            constraint_types.push("EncryptionContextEquals".to_owned());
        }
        if c.encryption_context_subset.is_some() {
            constraint_types.push("EncryptionContextSubset".to_owned());
        }
        let mut extra = vec![
            (
                keys::GRANT_OPERATIONS,
                Value::Many(
                    req.operations
                        .iter()
                        .map(|o| o.as_str().to_owned())
                        .collect(),
                ),
            ),
            (
                keys::GRANTEE_PRINCIPAL,
                Value::Str(req.grantee_principal.arn().to_owned()),
            ),
            (keys::GRANT_IS_FOR_AWS_RESOURCE, Value::Bool(false)),
            (keys::GRANT_CONSTRAINT_TYPE, Value::Many(constraint_types)),
        ];
        if let Some(p) = &req.retiring_principal {
            extra.push((keys::RETIRING_PRINCIPAL, Value::Str(p.arn().to_owned())));
        }
        let facts = Facts {
            context: None,
            algorithm: None,
            extra,
            new_grant: Some((
                &req.operations,
                GrantShape {
                    subset: c.encryption_context_subset.as_ref(),
                    equals: c.encryption_context_equals.as_ref(),
                },
            )),
        };
        let auth = self.authorize(call, Action::CreateGrant, r, facts)?;
        let r = auth.record();
        check_operations_fit(r, &req.operations)?;
        call.proceed()?;
        let pairs = |ctx: &Option<EncryptionContext>| {
            ctx.as_ref().map(|c| {
                c.iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect::<Vec<_>>()
            })
        };
        let mut operations = req.operations.clone();
        operations.sort_by_key(|o| o.as_str());
        operations.dedup();
        let mut grant = GrantRecord {
            key: r.id,
            slot: r.slot(),
            id: [0u8; 32],
            name: req.name.as_ref().map(|n| n.as_str().to_owned()),
            created: self.clock.now(),
            grantee: req.grantee_principal.arn().to_owned(),
            retiring: req.retiring_principal.as_ref().map(|p| p.arn().to_owned()),
            issuing_account: call.caller.account().to_owned(),
            operations,
            context_subset: pairs(&c.encryption_context_subset),
            context_equals: pairs(&c.encryption_context_equals),
        };
        // A retry with the same name and parameters returns the grant the first try made.
        if grant.name.is_some() {
            let existing = self
                .store
                .grants_of(r.slot())
                .map_err(|e| from_store("create grant", e))?;
            if let Some(same) = existing.into_iter().find(|g| same_grant(g, &grant)) {
                return Ok(grant_response(&same));
            }
        }
        self.token
            .random(&mut grant.id)
            .map_err(|e| from_token("create grant", e))?;
        match self.put_grant(&auth, &mut grant) {
            Ok(()) => {}
            Err(StoreError::TooManyGrants(n)) => {
                return Err(KmsError::new(
                    ErrorKind::LimitExceeded,
                    format!(
                        "{} already has {n} grants, the most a key may have.",
                        self.arn(r)
                    ),
                ));
            }
            Err(StoreError::KeyMissing) => {
                return Err(KmsError::not_found(format!(
                    "Key '{}' does not exist",
                    self.arn(r)
                )));
            }
            Err(e) => return Err(from_store("create grant", e)),
        }
        tracing::info!(key = %r.id, grant = %hex(&grant.id), "grant created");
        Ok(grant_response(&grant))
    }

    pub(crate) fn list_grants(
        &self,
        call: &mut Call<'_>,
        req: ListGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        let limit = check_limit(req.limit, 100, 50)?;
        let only = match &req.grant_id {
            Some(g) => Some(parse_grant_id(g)?),
            None => None,
        };
        let auth = self.authorized_read(call, Action::ListGrants, &req.key_id)?;
        let r = auth.record();
        let after = match &req.marker {
            Some(m) => {
                Some(parse_grant_id(&marker_position("grants", m)?).map_err(|_| invalid_marker())?)
            }
            None => None,
        };
        let grants = self
            .store
            .grants_of(r.slot())
            .map_err(|e| from_store("list grants", e))?
            .into_iter()
            .filter(|g| only.is_none_or(|id| g.id == id))
            .filter(|g| {
                req.grantee_principal
                    .as_ref()
                    .is_none_or(|p| g.grantee == p.arn())
            })
            .filter(|g| after.is_none_or(|a| g.id > a));
        Ok(self.grant_page(grants, limit, |g| opaque_marker("grants", &hex(&g.id))))
    }

    pub(crate) fn list_retirable_grants(
        &self,
        call: &mut Call<'_>,
        req: ListRetirableGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        let limit = check_limit(req.limit, 100, 50)?;
        // Account-level, in the retiring principal's account: the caller's own.
        let _auth = self.authorize_account(
            call,
            Action::ListRetirableGrants,
            req.retiring_principal.account(),
        )?;
        let after = req
            .marker
            .as_deref()
            .map(|m| marker_position("retirable-grants", m))
            .transpose()?;
        if after.as_ref().is_some_and(|m| m.len() != 96 || !is_hex(m)) {
            return Err(invalid_marker());
        }
        // Per Region, as in AWS: only grants on keys of the call's Region.
        let region = self.call_region(call).to_owned();
        let in_region = |g: &GrantRecord| {
            self.record(g.slot)
                .ok()
                .flatten()
                .is_some_and(|r| self.region_of_record(&r) == region)
        };
        let grants = self
            .store
            .grants_retirable_by(req.retiring_principal.arn())
            .map_err(|e| from_store("list retirable grants", e))?
            .into_iter()
            .filter(in_region)
            .filter(|g| {
                after
                    .as_ref()
                    .is_none_or(|a| format!("{}{}", hex(g.key.as_bytes()), hex(&g.id)) > *a)
            });
        Ok(self.grant_page(grants, limit, |g| {
            let position = format!("{}{}", hex(g.key.as_bytes()), hex(&g.id));
            opaque_marker("retirable-grants", &position)
        }))
    }

    pub(crate) fn retire_grant(
        &self,
        call: &mut Call<'_>,
        req: RetireGrantRequest,
    ) -> Result<(), KmsError> {
        let _w = self.writes.lock();
        let region = self.call_region(call).to_owned();
        let (r, grant_id) = match &req.target {
            RetireGrantTarget::Token(t) => {
                let (key, grant) = parse_grant_token(t)?;
                let r = self
                    .record_in(key, &region)?
                    .filter(|r| self.region_of_record(r) == region)
                    .ok_or_else(|| {
                        KmsError::new(
                            ErrorKind::InvalidGrantToken,
                            "The grant token names a key that does not exist.",
                        )
                    })?;
                (r, grant)
            }
            RetireGrantTarget::Id { key_id, grant_id } => {
                let id = parse_grant_id(grant_id)?;
                (self.resolve(call, key_id, Aliases::Refused)?, id)
            }
        };
        let g = self.existing_grant(&r, &grant_id)?;
        let auth = self.authorize_retire(call, r, &g)?;
        call.proceed()?;
        self.remove_grant(&auth, &grant_id)
    }

    pub(crate) fn revoke_grant(
        &self,
        call: &mut Call<'_>,
        req: RevokeGrantRequest,
    ) -> Result<(), KmsError> {
        let grant_id = parse_grant_id(&req.grant_id)?;
        let _w = self.writes.lock();
        let auth = self.authorized_read(call, Action::RevokeGrant, &req.key_id)?;
        self.existing_grant(auth.record(), &grant_id)?;
        call.proceed()?;
        self.remove_grant(&auth, &grant_id)
    }

    fn existing_grant(&self, r: &KeyRecord, id: &[u8; 32]) -> Result<GrantRecord, KmsError> {
        self.store
            .grant(r.slot(), id)
            .map_err(|e| from_store("read grant", e))?
            .ok_or_else(|| {
                KmsError::not_found(format!(
                    "Grant {} of {} does not exist.",
                    hex(id),
                    self.arn(r)
                ))
            })
    }

    /// Stores grant `g` of the key `auth` authorizes (its `key` is set from the proof).
    fn put_grant(&self, auth: &Authorized, g: &mut GrantRecord) -> Result<(), StoreError> {
        g.key = auth.record().id;
        self.store.put_grant(g, MAX_GRANTS_PER_KEY)
    }

    /// Removes grant `id` of the key `auth` authorizes.
    fn remove_grant(&self, auth: &Authorized, id: &[u8; 32]) -> Result<(), KmsError> {
        let r = auth.record();
        match self.store.delete_grant(r.slot(), id) {
            Ok(true) => {
                tracing::info!(key = %r.id, grant = %hex(id), "grant removed");
                Ok(())
            }
            Ok(false) => Err(KmsError::not_found(format!(
                "Grant {} of {} does not exist.",
                hex(id),
                self.arn(r)
            ))),
            Err(e) => Err(from_store("remove grant", e)),
        }
    }

    fn grant_page(
        &self,
        grants: impl Iterator<Item = GrantRecord>,
        limit: usize,
        marker: impl Fn(&GrantRecord) -> String,
    ) -> ListGrantsResponse {
        let mut out = Vec::new();
        let mut last = None;
        let mut more = false;
        for g in grants {
            if out.len() == limit {
                more = true;
                break;
            }
            last = Some(marker(&g));
            out.push(self.grant_entry(&g));
        }
        let next_marker = if more { last } else { None };
        ListGrantsResponse {
            grants: out,
            truncated: next_marker.is_some(),
            next_marker,
        }
    }

    fn grant_entry(&self, g: &GrantRecord) -> GrantListEntry {
        let context = |pairs: &Option<Vec<(String, String)>>| {
            pairs
                .as_ref()
                .and_then(|p| EncryptionContext::from_pairs(p.iter().cloned()).ok())
        };
        let constraints = GrantConstraints {
            encryption_context_subset: context(&g.context_subset),
            encryption_context_equals: context(&g.context_equals),
        };
        let key_arn = match self.record(g.slot).ok().flatten() {
            Some(r) => self.arn(&r),
            None => self.key_arn_in(self.arn_scope().account(), self.arn_scope().region(), g.key),
        };
        GrantListEntry {
            key_id: key_arn,
            grant_id: hex(&g.id),
            name: g.name.clone(),
            creation_date: g.created,
            grantee_principal: g.grantee.clone(),
            retiring_principal: g.retiring.clone(),
            issuing_account: format!(
                "arn:{}:iam::{}:root",
                self.arn_scope().partition(),
                g.issuing_account
            ),
            operations: g.operations.clone(),
            constraints: (constraints != GrantConstraints::default()).then_some(constraints),
        }
    }
}

fn grant_response(g: &GrantRecord) -> CreateGrantResponse {
    CreateGrantResponse {
        grant_token: format!(
            "{GRANT_TOKEN_PREFIX}{}{}",
            hex(g.key.as_bytes()),
            hex(&g.id)
        ),
        grant_id: hex(&g.id),
    }
}

/// Same grant for an idempotent retry: everything but id and creation time.
fn same_grant(a: &GrantRecord, b: &GrantRecord) -> bool {
    a.name == b.name
        && a.grantee == b.grantee
        && a.retiring == b.retiring
        && a.operations == b.operations
        && a.context_subset == b.context_subset
        && a.context_equals == b.context_equals
        && a.issuing_account == b.issuing_account
}

fn check_grant_request(req: &CreateGrantRequest) -> Result<(), KmsError> {
    if req.operations.is_empty() {
        return Err(KmsError::validation(
            "1 validation error detected: Value at 'operations' failed to satisfy constraint: \
             Member must have length greater than or equal to 1",
        ));
    }
    if let Some(c) = &req.constraints
        && (c.encryption_context_equals.is_some() || c.encryption_context_subset.is_some())
        && let Some(op) = req
            .operations
            .iter()
            .find(|o| !o.takes_encryption_context() && !is_grant_meta(**o))
    {
        return Err(KmsError::validation(format!(
            "Grant constraints on the encryption context are not valid with the {op} \
             operation, which takes no encryption context."
        )));
    }
    Ok(())
}

/// Operations a constrained grant may still include: they act on the grant or describe the
/// key, and take no encryption context.
fn is_grant_meta(op: GrantOperation) -> bool {
    matches!(
        op,
        GrantOperation::CreateGrant | GrantOperation::RetireGrant | GrantOperation::DescribeKey
    )
}

/// Refuses operations a key of this spec and usage cannot perform (a symmetric key cannot
/// sign, an HMAC key cannot encrypt, an RSA ENCRYPT_DECRYPT key cannot sign), as AWS does.
/// Operations on the grant itself and DescribeKey fit every key.
fn check_operations_fit(r: &KeyRecord, ops: &[GrantOperation]) -> Result<(), KmsError> {
    let kind = crate::keykind::for_spec(r.spec).ok();
    let unfit = ops
        .iter()
        .find(|o| !is_grant_meta(**o) && !operation_fits(kind, r.usage, **o));
    match unfit {
        Some(op) => Err(KmsError::validation(format!(
            "Grant operation {op} is not valid for a {} key with key usage {}.",
            r.spec, r.usage
        ))),
        None => Ok(()),
    }
}

/// Whether a key of `kind` with `usage` can perform the granted operation `op`: its kind
/// serves the operation, and the operation is one of the usage's.
fn operation_fits(
    kind: Option<&'static dyn crate::keykind::KeyKind>,
    usage: KeyUsage,
    op: GrantOperation,
) -> bool {
    use GrantOperation as G;
    let needs = match op {
        G::Encrypt
        | G::Decrypt
        | G::GenerateDataKey
        | G::GenerateDataKeyWithoutPlaintext
        | G::ReEncryptFrom
        | G::ReEncryptTo
        | G::GenerateDataKeyPair
        | G::GenerateDataKeyPairWithoutPlaintext
        | G::Encapsulate
        | G::Decapsulate => Some(KeyUsage::EncryptDecrypt),
        G::Sign | G::Verify => Some(KeyUsage::SignVerify),
        G::GenerateMac | G::VerifyMac => Some(KeyUsage::GenerateVerifyMac),
        G::DeriveSharedSecret => Some(KeyUsage::KeyAgreement),
        // Every usage of a key pair has a public key.
        G::GetPublicKey | G::CreateGrant | G::RetireGrant | G::DescribeKey => None,
    };
    if needs.is_some_and(|u| u != usage) {
        return false;
    }
    let operation = match op {
        G::ReEncryptFrom | G::ReEncryptTo => Some(Operation::ReEncrypt),
        other => Operation::from_name(other.as_str()),
    };
    match (kind, operation) {
        (Some(k), Some(o)) => k.supports(o),
        _ => false,
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !is_hex(s) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn parse_grant_id(s: &str) -> Result<[u8; 32], KmsError> {
    unhex::<32>(s).ok_or_else(|| {
        KmsError::new(
            ErrorKind::InvalidGrantId,
            "The grant id is not valid: a grant id is 64 lowercase hex digits.",
        )
    })
}

fn parse_grant_token(t: &str) -> Result<(KeyId, [u8; 32]), KmsError> {
    let bad = || {
        KmsError::new(
            ErrorKind::InvalidGrantToken,
            "The grant token is not valid: it is not a token Lockbox issued.",
        )
    };
    let rest = t.strip_prefix(GRANT_TOKEN_PREFIX).ok_or_else(bad)?;
    if rest.len() != 96 {
        return Err(bad());
    }
    let key = unhex::<16>(&rest[..32]).ok_or_else(bad)?;
    let grant = unhex::<32>(&rest[32..]).ok_or_else(bad)?;
    Ok((KeyId::from_bytes(key), grant))
}
