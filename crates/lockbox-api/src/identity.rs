//! Who is calling: principals (IAM-shaped ARNs) and the caller every operation carries.
//!
//! Lockbox has no IAM. A principal is a name the caller is known by: an account's root
//! (`arn:aws:iam::111122223333:root`), a user (`...:user/alice`), a role (`...:role/app`) or an
//! assumed-role session (`arn:aws:sts::111122223333:assumed-role/app/session`). Whoever hands
//! Lockbox a principal vouches for it: an embedder passes it explicitly, the CLI takes it from
//! its configuration, the server (later) from the credential that signed the request.

use std::fmt;
use std::sync::Arc;

use crate::error::{ErrorKind, KmsError};
use crate::ids::ArnParts;

/// The longest principal ARN AWS accepts (`PrincipalIdType`).
pub const MAX_PRINCIPAL_LEN: usize = 256;

/// What kind of principal an ARN names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// `arn:<partition>:iam::<account>:root`: the account itself.
    Root,
    /// `arn:<partition>:iam::<account>:user/<path/>name`.
    User,
    /// `arn:<partition>:iam::<account>:role/<path/>name`.
    Role,
    /// `arn:<partition>:sts::<account>:assumed-role/<role>/<session>`.
    AssumedRole,
}

/// A principal ARN, parsed: cheap to clone, compared as written.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Principal(Arc<PrincipalParts>);

#[derive(PartialEq, Eq, Hash)]
struct PrincipalParts {
    arn: String,
    partition: std::ops::Range<usize>,
    account: std::ops::Range<usize>,
    kind: PrincipalKind,
}

impl Principal {
    /// Parses a principal ARN. The message of the error names what is wrong with it.
    pub fn parse(arn: &str) -> Result<Principal, KmsError> {
        let bad = |why: &str| {
            KmsError::new(
                ErrorKind::InvalidArn,
                format!(
                    "'{}' is not a principal ARN: {why}",
                    crate::ids::shorten(arn)
                ),
            )
        };
        if arn.is_empty() || arn.len() > MAX_PRINCIPAL_LEN {
            return Err(bad(&format!(
                "it must be 1 to {MAX_PRINCIPAL_LEN} characters"
            )));
        }
        let Some(
            parts @ ArnParts {
                region: "",
                service,
                account,
                resource: rest,
                ..
            },
        ) = ArnParts::split(arn)
        else {
            return Err(bad(
                "expected arn:<partition>:iam::<account>:<root|user/...|role/...> or \
                 arn:<partition>:sts::<account>:assumed-role/<role>/<session>",
            ));
        };
        if !parts.partition_ok() {
            return Err(bad(
                "the partition must be lowercase letters, digits and '-'",
            ));
        }
        if !is_account_id(account) {
            return Err(bad("the account must be 12 digits"));
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
                && !s.starts_with('/')
                && !s.ends_with('/')
                && !s.contains("//")
        };
        let kind = match (service, rest) {
            ("iam", "root") => PrincipalKind::Root,
            ("iam", r) if r.starts_with("user/") && name_ok(&r[5..]) => PrincipalKind::User,
            ("iam", r) if r.starts_with("role/") && name_ok(&r[5..]) => PrincipalKind::Role,
            ("sts", r)
                if r.starts_with("assumed-role/")
                    && name_ok(&r[13..])
                    && r[13..].split('/').count() == 2 =>
            {
                PrincipalKind::AssumedRole
            }
            ("iam", _) => {
                return Err(bad(
                    "an iam principal is 'root', 'user/<name>' or 'role/<name>' \
                     (names: letters, digits and +=,.@_-)",
                ));
            }
            ("sts", _) => return Err(bad("an sts principal is 'assumed-role/<role>/<session>'")),
            _ => return Err(bad("the service must be 'iam' or 'sts'")),
        };
        let p_start = 4;
        let partition = parts.partition;
        let a_start = p_start + partition.len() + 1 + service.len() + 2;
        Ok(Principal(Arc::new(PrincipalParts {
            arn: arn.to_owned(),
            partition: p_start..p_start + partition.len(),
            account: a_start..a_start + account.len(),
            kind,
        })))
    }

    /// The root principal of `account` in `partition`.
    pub fn root(partition: &str, account: &str) -> Result<Principal, KmsError> {
        Principal::parse(&format!("arn:{partition}:iam::{account}:root"))
    }

    /// The ARN, as given.
    pub fn arn(&self) -> &str {
        &self.0.arn
    }

    /// The 12-digit account the principal belongs to.
    pub fn account(&self) -> &str {
        &self.0.arn[self.0.account.clone()]
    }

    /// The partition, e.g. `aws`.
    pub fn partition(&self) -> &str {
        &self.0.arn[self.0.partition.clone()]
    }

    /// Root, user, role or assumed role.
    pub fn kind(&self) -> PrincipalKind {
        self.0.kind
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.arn())
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Principal({})", self.arn())
    }
}

/// True for a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The caller of an operation: who (a principal, and so an account) and from where.
///
/// Every operation on the engine is made by a caller; the engine authorizes the caller against
/// the key's policy and grants and writes the caller into the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    principal: Principal,
    source: Arc<str>,
    region: Option<Arc<str>>,
}

impl Caller {
    /// A caller in this process (source `in-process`).
    pub fn new(principal: Principal) -> Caller {
        Caller {
            principal,
            source: Arc::from("in-process"),
            region: None,
        }
    }

    /// The Region the call is addressed to (a server takes it from the request's SigV4
    /// scope). Without one, the engine's configured Region.
    pub fn with_region(mut self, region: &str) -> Caller {
        self.region = Some(Arc::from(region));
        self
    }

    /// The Region the call is addressed to, if one was given.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// Where the call came from, for the audit trail (`cli`, a socket address, ...).
    pub fn with_source(mut self, source: &str) -> Caller {
        self.source = Arc::from(source);
        self
    }

    /// The principal.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The principal's account.
    pub fn account(&self) -> &str {
        self.principal.account()
    }

    /// Where the call came from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_parse_and_name_their_account() {
        let p = Principal::parse("arn:aws:iam::111122223333:user/ops/alice").unwrap();
        assert_eq!(
            (p.account(), p.partition(), p.kind()),
            ("111122223333", "aws", PrincipalKind::User)
        );
        let p = Principal::parse("arn:aws-cn:sts::111122223333:assumed-role/app/s1").unwrap();
        assert_eq!(
            (p.account(), p.partition(), p.kind()),
            ("111122223333", "aws-cn", PrincipalKind::AssumedRole)
        );
        assert_eq!(
            Principal::root("aws", "000000000000").unwrap().arn(),
            "arn:aws:iam::000000000000:root"
        );
    }

    #[test]
    fn malformed_principals_are_refused_with_the_reason() {
        for (arn, why) in [
            ("alice", "expected arn:"),
            ("arn:aws:iam::12345:root", "12 digits"),
            ("arn:aws:iam::111122223333:group/x", "'root', 'user/<name>'"),
            ("arn:aws:iam::111122223333:user/", "'root', 'user/<name>'"),
            ("arn:aws:iam::111122223333:user/a*", "'root', 'user/<name>'"),
            ("arn:aws:s3::111122223333:root", "'iam' or 'sts'"),
            (
                "arn:aws:sts::111122223333:assumed-role/app",
                "assumed-role/<role>/<session>",
            ),
            ("arn:AWS:iam::111122223333:root", "partition"),
        ] {
            let e = Principal::parse(arn).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArn, "{arn}");
            assert!(e.message().contains(why), "{arn}: {}", e.message());
        }
    }
}
