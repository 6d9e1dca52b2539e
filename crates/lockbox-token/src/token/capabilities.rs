//! What the token can do, found out once at open: the mechanisms Lockbox uses that it lists
//! (C_GetMechanismList), their key-size ranges (C_GetMechanismInfo), and the named curves it
//! generates EC key pairs on.
//!
//! Mechanism info does not name curves (CKF_EC_NAMED_CURVE only says named curves are
//! accepted, not which), so each curve Lockbox serves is tried once: a session key pair (not a
//! token object, destroyed at once) generated in the anchor session. SoftHSM 2.6.1 does it in
//! about a millisecond per curve on this machine class (see `docs/operations.md`); a refusal
//! is recorded with the token's return code, so `lockbox doctor` can name it.
//!
//! The engine asks [`Capabilities::first_missing`] whether a key spec and usage can be served
//! before it makes material, and names what is missing in its refusal.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use cryptoki::error::Error as CkError;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::Attribute;
use cryptoki::session::Session;
use cryptoki::slot::Slot;

use super::{Curve, Token};
use crate::error::TokenError;
use crate::module::Module;

/// A PKCS#11 mechanism Lockbox uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mech {
    /// CKM_AES_KEY_GEN: symmetric CMK material.
    AesKeyGen,
    /// CKM_AES_GCM: Encrypt, Decrypt and data keys under symmetric CMKs.
    AesGcm,
    /// CKM_RSA_PKCS_KEY_PAIR_GEN: RSA key pairs (its key sizes are modulus bits).
    RsaKeyPairGen,
    /// CKM_RSA_PKCS: RSASSA-PKCS1-v1_5 signatures (over a DigestInfo made outside).
    RsaPkcs,
    /// CKM_RSA_PKCS_PSS: RSASSA-PSS signatures.
    RsaPkcsPss,
    /// CKM_RSA_X_509: raw RSA (OAEP with SHA-256 where the token's OAEP has SHA-1 only).
    RsaX509,
    /// CKM_RSA_PKCS_OAEP: RSAES-OAEP.
    RsaPkcsOaep,
    /// CKM_EC_KEY_PAIR_GEN: EC key pairs (the curves are probed separately).
    EcKeyPairGen,
    /// CKM_ECDSA: ECDSA over a digest made outside.
    Ecdsa,
    /// CKM_ECDH1_DERIVE: ECDH shared secrets.
    Ecdh1Derive,
    /// CKM_GENERIC_SECRET_KEY_GEN: HMAC key material.
    GenericSecretKeyGen,
    /// CKM_SHA224_HMAC.
    Sha224Hmac,
    /// CKM_SHA256_HMAC.
    Sha256Hmac,
    /// CKM_SHA384_HMAC.
    Sha384Hmac,
    /// CKM_SHA512_HMAC.
    Sha512Hmac,
}

impl Mech {
    /// Every mechanism Lockbox uses, in the order reports list them.
    pub const ALL: [Mech; 15] = [
        Mech::AesKeyGen,
        Mech::AesGcm,
        Mech::RsaKeyPairGen,
        Mech::RsaPkcs,
        Mech::RsaPkcsPss,
        Mech::RsaX509,
        Mech::RsaPkcsOaep,
        Mech::EcKeyPairGen,
        Mech::Ecdsa,
        Mech::Ecdh1Derive,
        Mech::GenericSecretKeyGen,
        Mech::Sha224Hmac,
        Mech::Sha256Hmac,
        Mech::Sha384Hmac,
        Mech::Sha512Hmac,
    ];

    /// Its PKCS#11 name ("CKM_ECDSA").
    pub fn name(self) -> &'static str {
        match self {
            Mech::AesKeyGen => "CKM_AES_KEY_GEN",
            Mech::AesGcm => "CKM_AES_GCM",
            Mech::RsaKeyPairGen => "CKM_RSA_PKCS_KEY_PAIR_GEN",
            Mech::RsaPkcs => "CKM_RSA_PKCS",
            Mech::RsaPkcsPss => "CKM_RSA_PKCS_PSS",
            Mech::RsaX509 => "CKM_RSA_X_509",
            Mech::RsaPkcsOaep => "CKM_RSA_PKCS_OAEP",
            Mech::EcKeyPairGen => "CKM_EC_KEY_PAIR_GEN",
            Mech::Ecdsa => "CKM_ECDSA",
            Mech::Ecdh1Derive => "CKM_ECDH1_DERIVE",
            Mech::GenericSecretKeyGen => "CKM_GENERIC_SECRET_KEY_GEN",
            Mech::Sha224Hmac => "CKM_SHA224_HMAC",
            Mech::Sha256Hmac => "CKM_SHA256_HMAC",
            Mech::Sha384Hmac => "CKM_SHA384_HMAC",
            Mech::Sha512Hmac => "CKM_SHA512_HMAC",
        }
    }

    fn mechanism_type(self) -> MechanismType {
        match self {
            Mech::AesKeyGen => MechanismType::AES_KEY_GEN,
            Mech::AesGcm => MechanismType::AES_GCM,
            Mech::RsaKeyPairGen => MechanismType::RSA_PKCS_KEY_PAIR_GEN,
            Mech::RsaPkcs => MechanismType::RSA_PKCS,
            Mech::RsaPkcsPss => MechanismType::RSA_PKCS_PSS,
            Mech::RsaX509 => MechanismType::RSA_X_509,
            Mech::RsaPkcsOaep => MechanismType::RSA_PKCS_OAEP,
            Mech::EcKeyPairGen => MechanismType::ECC_KEY_PAIR_GEN,
            Mech::Ecdsa => MechanismType::ECDSA,
            Mech::Ecdh1Derive => MechanismType::ECDH1_DERIVE,
            Mech::GenericSecretKeyGen => MechanismType::GENERIC_SECRET_KEY_GEN,
            Mech::Sha224Hmac => MechanismType::SHA224_HMAC,
            Mech::Sha256Hmac => MechanismType::SHA256_HMAC,
            Mech::Sha384Hmac => MechanismType::SHA384_HMAC,
            Mech::Sha512Hmac => MechanismType::SHA512_HMAC,
        }
    }
}

impl fmt::Display for Mech {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What C_GetMechanismInfo says of a mechanism the token lists: its key-size range, in the
/// mechanism's own unit (bits for RSA and EC, bytes for HMAC and generic secrets on most
/// tokens). Zero for both means the token did not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySizes {
    /// ulMinKeySize.
    pub min: u64,
    /// ulMaxKeySize.
    pub max: u64,
}

/// The standard name of a curve, as operators and `lockbox doctor` read it.
pub fn curve_name(curve: Curve) -> &'static str {
    match curve {
        Curve::P256 => "P-256",
        Curve::P384 => "P-384",
        Curve::P521 => "P-521",
        Curve::Secp256k1 => "secp256k1",
    }
}

/// The curves Lockbox serves, in the order reports list them.
const CURVES: [Curve; 4] = [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1];

/// One thing a key spec and usage need of the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// A mechanism the token must list.
    Mechanism(Mech),
    /// RSA key-pair generation with a modulus of this many bits (within the key-size range
    /// C_GetMechanismInfo gives for CKM_RSA_PKCS_KEY_PAIR_GEN).
    RsaModulus(u64),
    /// EC key-pair generation on this curve.
    Curve(Curve),
}

impl Requirement {
    /// Whether this is what makes key material (generation) rather than what uses it.
    pub fn is_key_generation(&self) -> bool {
        match self {
            Requirement::Mechanism(m) => matches!(
                m,
                Mech::AesKeyGen
                    | Mech::RsaKeyPairGen
                    | Mech::EcKeyPairGen
                    | Mech::GenericSecretKeyGen
            ),
            Requirement::RsaModulus(_) | Requirement::Curve(_) => true,
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Mechanism(m) => f.write_str(m.name()),
            Requirement::RsaModulus(bits) => {
                write!(f, "{bits}-bit RSA keys ({})", Mech::RsaKeyPairGen.name())
            }
            Requirement::Curve(c) => {
                write!(
                    f,
                    "the curve {} ({})",
                    curve_name(*c),
                    Mech::EcKeyPairGen.name()
                )
            }
        }
    }
}

/// What the token can do (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    mechanisms: BTreeMap<Mech, KeySizes>,
    // Each curve Lockbox serves: `None` when the token generated a key pair on it, else why not.
    curves: Vec<(Curve, Option<String>)>,
    probe_time: Duration,
}

impl Capabilities {
    /// A value from parts: the mechanisms the token lists with their key sizes, and the
    /// curves it generates key pairs on (every other curve is refused). For tests and tools
    /// that reason about a token they describe rather than open.
    pub fn from_parts(
        mechanisms: impl IntoIterator<Item = (Mech, KeySizes)>,
        curves: impl IntoIterator<Item = Curve>,
    ) -> Capabilities {
        let have: Vec<Curve> = curves.into_iter().collect();
        Capabilities {
            mechanisms: mechanisms.into_iter().collect(),
            curves: CURVES
                .iter()
                .map(|c| {
                    let why = (!have.contains(c)).then(|| "not listed".to_owned());
                    (*c, why)
                })
                .collect(),
            probe_time: Duration::ZERO,
        }
    }

    /// The same capabilities without mechanism `m` (as a token that lacks it).
    pub fn without(mut self, m: Mech) -> Capabilities {
        self.mechanisms.remove(&m);
        self
    }

    /// The same capabilities without curve `c` (as a token that refuses it).
    pub fn without_curve(mut self, c: Curve) -> Capabilities {
        for (curve, why) in &mut self.curves {
            if *curve == c {
                *why = Some("removed".into());
            }
        }
        self
    }

    /// Whether the token lists `m`.
    pub fn has(&self, m: Mech) -> bool {
        self.mechanisms.contains_key(&m)
    }

    /// The key sizes the token gives for `m`, if it lists it.
    pub fn key_sizes(&self, m: Mech) -> Option<KeySizes> {
        self.mechanisms.get(&m).copied()
    }

    /// Whether the token generated a key pair on `c` at open.
    pub fn supports_curve(&self, c: Curve) -> bool {
        self.has(Mech::EcKeyPairGen)
            && self
                .curves
                .iter()
                .any(|(curve, why)| *curve == c && why.is_none())
    }

    /// Why the token cannot generate key pairs on `c` (its return code at the probe), if it
    /// cannot.
    pub fn curve_refusal(&self, c: Curve) -> Option<&str> {
        if !self.has(Mech::EcKeyPairGen) {
            return Some("CKM_EC_KEY_PAIR_GEN is not listed");
        }
        self.curves
            .iter()
            .find(|(curve, _)| *curve == c)
            .and_then(|(_, why)| why.as_deref())
    }

    /// Whether the token meets `r`.
    pub fn meets(&self, r: Requirement) -> bool {
        match r {
            Requirement::Mechanism(m) => self.has(m),
            Requirement::RsaModulus(bits) => match self.key_sizes(Mech::RsaKeyPairGen) {
                None => false,
                // A token that gives no range is taken at its word that it generates RSA keys.
                Some(KeySizes { min: 0, max: 0 }) => true,
                Some(KeySizes { min, max }) => (min..=max).contains(&bits),
            },
            Requirement::Curve(c) => self.supports_curve(c),
        }
    }

    /// The first of `requirements` the token does not meet.
    pub fn first_missing(&self, requirements: &[Requirement]) -> Option<Requirement> {
        requirements.iter().copied().find(|r| !self.meets(*r))
    }

    /// How long the probe took at open.
    pub fn probe_time(&self) -> Duration {
        self.probe_time
    }
}

impl Token {
    /// What the token can do, as probed at open.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }
}

/// Probes the token in `slot` through `session` (logged in: the probe key pairs' private
/// halves are private objects).
pub(super) fn probe(
    module: &Module,
    slot: Slot,
    session: &Session,
) -> Result<Capabilities, TokenError> {
    let start = Instant::now();
    let listed = module.ctx.get_mechanism_list(slot)?;
    let mut mechanisms = BTreeMap::new();
    for m in Mech::ALL {
        let t = m.mechanism_type();
        if !listed.contains(&t) {
            continue;
        }
        let info = module.ctx.get_mechanism_info(slot, t)?;
        mechanisms.insert(
            m,
            KeySizes {
                min: info.min_key_size() as u64,
                max: info.max_key_size() as u64,
            },
        );
    }
    let mut curves = Vec::with_capacity(CURVES.len());
    for c in CURVES {
        let why = if mechanisms.contains_key(&Mech::EcKeyPairGen) {
            try_curve(session, c)?
        } else {
            Some("CKM_EC_KEY_PAIR_GEN is not listed".to_owned())
        };
        if let Some(why) = &why {
            tracing::info!(curve = curve_name(c), reason = %why,
                "the token cannot generate EC key pairs on this curve");
        }
        curves.push((c, why));
    }
    let probe_time = start.elapsed();
    tracing::debug!(
        ?probe_time,
        mechanisms = mechanisms.len(),
        "token capabilities probed"
    );
    let found = Capabilities {
        mechanisms,
        curves,
        probe_time,
    };
    #[cfg(feature = "test-support")]
    let found = hide_for_tests(found)?;
    Ok(found)
}

/// Test support (feature `test-support` only): the environment variable that makes the probe
/// report the token without some of what it has: a comma-separated list of mechanism names
/// (`CKM_ECDH1_DERIVE`) and curve names (`secp256k1`, `P-384`). Tests use it to show what
/// CreateKey and `lockbox doctor` do on a token that lacks them (a real HSM without
/// secp256k1, say). A name that is neither fails the open, so a misspelling cannot pass.
#[cfg(feature = "test-support")]
pub const HIDE_CAPABILITIES_ENV: &str = "LOCKBOX_TEST_HIDE_CAPABILITIES";

#[cfg(feature = "test-support")]
fn hide_for_tests(mut caps: Capabilities) -> Result<Capabilities, TokenError> {
    let Some(list) = std::env::var_os(HIDE_CAPABILITIES_ENV) else {
        return Ok(caps);
    };
    for name in list
        .to_string_lossy()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if let Some(m) = Mech::ALL.iter().find(|m| m.name() == name) {
            caps = caps.without(*m);
        } else if let Some(c) = CURVES.iter().find(|c| curve_name(**c) == name) {
            for (curve, why) in &mut caps.curves {
                if curve == c {
                    *why = Some(format!("hidden by {HIDE_CAPABILITIES_ENV}"));
                }
            }
        } else {
            return Err(TokenError::Config(format!(
                "{HIDE_CAPABILITIES_ENV}: '{name}' names no mechanism or curve Lockbox uses"
            )));
        }
    }
    Ok(caps)
}

/// Generates a session key pair on `c` and destroys it: `None` if the token could, else its
/// return code. Only a refusal of the generation itself counts as "cannot"; a session or
/// device fault is an error of the open.
fn try_curve(session: &Session, c: Curve) -> Result<Option<String>, TokenError> {
    let public = [
        Attribute::Token(false),
        Attribute::Private(false),
        Attribute::EcParams(c.ec_params().to_vec()),
        Attribute::Verify(true),
    ];
    let private = [
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
    ];
    match session.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private) {
        Ok((pub_handle, priv_handle)) => {
            // Session objects vanish with the session anyway; destroy them now.
            for h in [priv_handle, pub_handle] {
                if let Err(e) = session.destroy_object(h) {
                    tracing::debug!(error = %e, "could not destroy a probe key pair's half");
                }
            }
            Ok(None)
        }
        Err(CkError::Pkcs11(rv, _)) if is_refusal(rv) => Ok(Some(format!("{rv:?}"))),
        Err(e) => Err(e.into()),
    }
}

/// Return codes that mean "not this curve" rather than a broken session or device.
fn is_refusal(rv: cryptoki::error::RvError) -> bool {
    use cryptoki::error::RvError as R;
    matches!(
        rv,
        R::CurveNotSupported
            | R::DomainParamsInvalid
            | R::AttributeValueInvalid
            | R::TemplateIncomplete
            | R::TemplateInconsistent
            | R::MechanismInvalid
            | R::MechanismParamInvalid
            | R::KeySizeRange
            | R::FunctionFailed
            | R::GeneralError
            | R::ArgumentsBad
    )
}
