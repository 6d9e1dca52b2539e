//! Requests and responses of the access-control operations: key policies and grants.

use crate::context::EncryptionContext;
use crate::enums::GrantOperation;
use crate::error::KmsError;
use crate::identity::Principal;
use crate::ids::{KeyArn, KeyRef, shorten};
use crate::time::Timestamp;

/// The one policy name a key has, as in AWS KMS.
pub const DEFAULT_POLICY_NAME: &str = "default";
/// The largest key policy document, in bytes (the AWS KMS quota).
pub const MAX_POLICY_LEN: usize = 32 * 1024;
/// The most grant tokens a request may carry.
pub const MAX_GRANT_TOKENS: usize = 10;
/// The longest grant token.
pub const MAX_GRANT_TOKEN_LEN: usize = 8192;
/// The most grants one key may have (the AWS KMS quota).
pub const MAX_GRANTS_PER_KEY: usize = 50_000;

/// The grant tokens of a request: at most 10, each 1..=8192 characters.
///
/// Lockbox's grants take effect the moment CreateGrant returns, so a token is never needed to
/// use a new grant; tokens are still checked (a malformed one is `InvalidGrantTokenException`)
/// so that code written for AWS behaves the same here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantTokens(Vec<String>);

impl GrantTokens {
    /// No tokens.
    pub fn none() -> Self {
        Self::default()
    }

    /// Checks the count and lengths (well-formedness is the engine's to judge).
    pub fn new(tokens: Vec<String>) -> Result<Self, KmsError> {
        if tokens.len() > MAX_GRANT_TOKENS {
            return Err(KmsError::length(
                "grantTokens",
                tokens.len(),
                MAX_GRANT_TOKENS,
            ));
        }
        for t in &tokens {
            if t.is_empty() || t.len() > MAX_GRANT_TOKEN_LEN {
                return Err(KmsError::validation(format!(
                    "1 validation error detected: Value at 'grantTokens' failed to satisfy \
                     constraint: {}",
                    crate::error::length_rule(t.len(), MAX_GRANT_TOKEN_LEN)
                )));
            }
        }
        Ok(GrantTokens(tokens))
    }

    /// The tokens.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// A policy name: only `default` exists (AWS KMS has one policy per key). A name the model
/// refuses (`PolicyNameType`: 1..=128 word characters) is a ValidationException first, as
/// AWS answers it.
fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    if let Some(n) = name {
        let chars = n.chars().count();
        if chars == 0 || chars > 128 {
            return Err(KmsError::constraint(
                "policyName",
                shorten(n),
                &crate::error::length_rule(chars, 128),
            ));
        }
        if !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(KmsError::constraint(
                "policyName",
                shorten(n),
                "Member must satisfy regular expression pattern: [\\w]+",
            ));
        }
    }
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(()),
        Some(other) => Err(KmsError::not_found(format!(
            "No such policy exists: '{}'. A key has one policy, named '{DEFAULT_POLICY_NAME}'.",
            shorten(other)
        ))),
    }
}

/// PutKeyPolicy.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PutKeyPolicyRequest {
    /// The key (key id or key ARN).
    pub key_id: KeyRef,
    /// The policy document (JSON).
    pub policy: String,
    /// Skips the check that the caller can still change the policy afterwards. Dangerous.
    pub bypass_policy_lockout_safety_check: bool,
}

impl PutKeyPolicyRequest {
    /// Sets `policy` as the key's policy. `policy_name`, if given, must be `default`.
    pub fn new(
        key_id: impl Into<KeyRef>,
        policy: impl Into<String>,
        policy_name: Option<&str>,
    ) -> Result<Self, KmsError> {
        check_policy_name(policy_name)?;
        Ok(PutKeyPolicyRequest {
            key_id: key_id.into(),
            policy: policy.into(),
            bypass_policy_lockout_safety_check: false,
        })
    }

    /// Skips the lockout safety check.
    pub fn with_bypass_policy_lockout_safety_check(mut self, bypass: bool) -> Self {
        self.bypass_policy_lockout_safety_check = bypass;
        self
    }
}

/// GetKeyPolicy.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GetKeyPolicyRequest {
    /// The key (key id or key ARN).
    pub key_id: KeyRef,
}

impl GetKeyPolicyRequest {
    /// The policy of `key_id`. `policy_name`, if given, must be `default`.
    pub fn new(key_id: impl Into<KeyRef>, policy_name: Option<&str>) -> Result<Self, KmsError> {
        check_policy_name(policy_name)?;
        Ok(GetKeyPolicyRequest {
            key_id: key_id.into(),
        })
    }
}

/// GetKeyPolicy's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetKeyPolicyResponse {
    /// The document, exactly as it was put.
    pub policy: String,
    /// Always `default`.
    pub policy_name: String,
}

/// ListKeyPolicies.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListKeyPoliciesRequest {
    /// The key (key id or key ARN).
    pub key_id: KeyRef,
    /// Page size, 1..=1000, default 100.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
}

impl ListKeyPoliciesRequest {
    /// The policy names of `key_id`.
    pub fn new(key_id: impl Into<KeyRef>) -> Self {
        ListKeyPoliciesRequest {
            key_id: key_id.into(),
            limit: None,
            marker: None,
        }
    }
}

/// ListKeyPolicies' answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListKeyPoliciesResponse {
    /// `["default"]`.
    pub policy_names: Vec<String>,
    /// Always `None`: one policy fits any page.
    pub next_marker: Option<String>,
    /// Always false.
    pub truncated: bool,
}

/// A grant's conditions on the encryption context of the requests it allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantConstraints {
    /// The request's context must contain these pairs (it may have more).
    pub encryption_context_subset: Option<EncryptionContext>,
    /// The request's context must be exactly this.
    pub encryption_context_equals: Option<EncryptionContext>,
}

/// A grant's name: 1..=256 characters of `[a-zA-Z0-9:/_-]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantName(String);

impl GrantName {
    /// Checks the length and characters.
    pub fn new(name: &str) -> Result<Self, KmsError> {
        if name.is_empty() || name.len() > 256 {
            return Err(KmsError::constraint(
                "name",
                shorten(name),
                &crate::error::length_rule(name.len(), 256),
            ));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b))
        {
            return Err(KmsError::constraint(
                "name",
                shorten(name),
                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
            ));
        }
        Ok(GrantName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// CreateGrant.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CreateGrantRequest {
    /// The key (key id or key ARN).
    pub key_id: KeyRef,
    /// Who gets the permissions.
    pub grantee_principal: Principal,
    /// Who may retire the grant (besides the grantee, if the grant allows RetireGrant).
    pub retiring_principal: Option<Principal>,
    /// The operations the grant allows (at least one).
    pub operations: Vec<GrantOperation>,
    /// Conditions on the encryption context.
    pub constraints: Option<GrantConstraints>,
    /// Grant tokens (see [`GrantTokens`]).
    pub grant_tokens: GrantTokens,
    /// A name: retrying CreateGrant with the same name and parameters returns the same grant.
    pub name: Option<GrantName>,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl CreateGrantRequest {
    /// A grant on `key_id` for `grantee` allowing `operations`.
    pub fn new(
        key_id: impl Into<KeyRef>,
        grantee: Principal,
        operations: Vec<GrantOperation>,
    ) -> Self {
        CreateGrantRequest {
            dry_run: false,
            key_id: key_id.into(),
            grantee_principal: grantee,
            retiring_principal: None,
            operations,
            constraints: None,
            grant_tokens: GrantTokens::none(),
            name: None,
        }
    }

    /// Sets the retiring principal.
    pub fn with_retiring_principal(mut self, p: Principal) -> Self {
        self.retiring_principal = Some(p);
        self
    }

    /// Sets the constraints.
    pub fn with_constraints(mut self, c: GrantConstraints) -> Self {
        self.constraints = Some(c);
        self
    }

    /// Sets the grant tokens.
    pub fn with_grant_tokens(mut self, t: GrantTokens) -> Self {
        self.grant_tokens = t;
        self
    }

    /// Sets the name.
    pub fn with_name(mut self, n: GrantName) -> Self {
        self.name = Some(n);
        self
    }
}

/// CreateGrant's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateGrantResponse {
    /// The token that names the grant (for RetireGrant, or as a grant token).
    pub grant_token: String,
    /// The grant's id (64 hex digits).
    pub grant_id: String,
}

/// One grant, as ListGrants and ListRetirableGrants describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantListEntry {
    /// The key the grant is for.
    pub key_id: KeyArn,
    /// The grant id.
    pub grant_id: String,
    /// The name, if it was given one.
    pub name: Option<String>,
    /// When it was created.
    pub creation_date: Timestamp,
    /// Who gets the permissions.
    pub grantee_principal: String,
    /// Who may retire it.
    pub retiring_principal: Option<String>,
    /// The account that created it, as its root ARN.
    pub issuing_account: String,
    /// The operations it allows.
    pub operations: Vec<GrantOperation>,
    /// Its constraints.
    pub constraints: Option<GrantConstraints>,
}

/// ListGrants.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListGrantsRequest {
    /// The key (key id or key ARN).
    pub key_id: KeyRef,
    /// Page size, 1..=100, default 50.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
    /// Only this grant.
    pub grant_id: Option<String>,
    /// Only grants for this grantee.
    pub grantee_principal: Option<Principal>,
}

impl ListGrantsRequest {
    /// The grants of `key_id`.
    pub fn new(key_id: impl Into<KeyRef>) -> Self {
        ListGrantsRequest {
            key_id: key_id.into(),
            limit: None,
            marker: None,
            grant_id: None,
            grantee_principal: None,
        }
    }

    /// Sets the page size.
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Continues after a page.
    pub fn with_marker(mut self, marker: String) -> Self {
        self.marker = Some(marker);
        self
    }

    /// Only this grant.
    pub fn with_grant_id(mut self, id: String) -> Self {
        self.grant_id = Some(id);
        self
    }

    /// Only grants for this grantee.
    pub fn with_grantee_principal(mut self, p: Principal) -> Self {
        self.grantee_principal = Some(p);
        self
    }
}

/// ListGrants' and ListRetirableGrants' answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListGrantsResponse {
    /// The grants on this page.
    pub grants: Vec<GrantListEntry>,
    /// Pass to the next request for the next page.
    pub next_marker: Option<String>,
    /// True when there are more pages.
    pub truncated: bool,
}

/// ListRetirableGrants.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListRetirableGrantsRequest {
    /// The retiring principal whose grants to list (in the caller's account).
    pub retiring_principal: Principal,
    /// Page size, 1..=100, default 50.
    pub limit: Option<u32>,
    /// `next_marker` of the previous page.
    pub marker: Option<String>,
}

impl ListRetirableGrantsRequest {
    /// The grants `retiring_principal` may retire.
    pub fn new(retiring_principal: Principal) -> Self {
        ListRetirableGrantsRequest {
            retiring_principal,
            limit: None,
            marker: None,
        }
    }

    /// Sets the page size.
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Continues after a page.
    pub fn with_marker(mut self, marker: String) -> Self {
        self.marker = Some(marker);
        self
    }
}

/// Which grant RetireGrant retires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetireGrantTarget {
    /// The grant a grant token names.
    Token(String),
    /// A key and one of its grant ids.
    Id {
        /// The key (key id or key ARN).
        key_id: KeyRef,
        /// The grant id.
        grant_id: String,
    },
}

/// RetireGrant.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RetireGrantRequest {
    /// The grant.
    pub target: RetireGrantTarget,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl RetireGrantRequest {
    /// Retires the grant `token` names.
    pub fn by_token(token: String) -> Result<Self, KmsError> {
        // The model's bounds (GrantTokenType, 1..=8192): a ValidationException, as AWS
        // answers; a token of the right length that names no grant is
        // InvalidGrantTokenException, later.
        if token.is_empty() || token.len() > MAX_GRANT_TOKEN_LEN {
            return Err(KmsError::constraint(
                "grantToken",
                shorten(&token),
                &crate::error::length_rule(token.len(), MAX_GRANT_TOKEN_LEN),
            ));
        }
        Ok(RetireGrantRequest {
            dry_run: false,
            target: RetireGrantTarget::Token(token),
        })
    }

    /// Retires grant `grant_id` of `key_id`.
    pub fn by_id(key_id: impl Into<KeyRef>, grant_id: String) -> Self {
        RetireGrantRequest {
            dry_run: false,
            target: RetireGrantTarget::Id {
                key_id: key_id.into(),
                grant_id,
            },
        }
    }
}

/// RevokeGrant.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RevokeGrantRequest {
    /// The key (key id or key ARN).
    pub key_id: KeyRef,
    /// The grant id.
    pub grant_id: String,
    /// Checks whether the call would succeed without doing it: the answer is then
    /// `DryRunOperationException` (or the error the call would have met).
    pub dry_run: bool,
}

impl RevokeGrantRequest {
    /// Revokes grant `grant_id` of `key_id`.
    pub fn new(key_id: impl Into<KeyRef>, grant_id: String) -> Self {
        RevokeGrantRequest {
            dry_run: false,
            key_id: key_id.into(),
            grant_id,
        }
    }
}

impl CreateGrantRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

impl RetireGrantRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

impl RevokeGrantRequest {
    /// Asks only whether the call would succeed (`DryRun`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}
