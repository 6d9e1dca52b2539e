//! HMAC_224, HMAC_256, HMAC_384, HMAC_512: a generic-secret key in the token as long as its
//! digest, sensitive and never extractable, that computes and checks HMACs (GenerateMac,
//! VerifyMac) with the one algorithm its spec names.

use lockbox_api::{KeySpec, KeyUsage, MacAlgorithm, Operation};
use lockbox_token::{HmacDigest, SecretKeyTemplate};

use super::{KeyKind, MaterialTemplate};

/// The HMAC key kind.
pub(crate) static HMAC: Hmac = Hmac;

/// HMAC keys (see the module docs).
pub(crate) struct Hmac;

/// The digest of an HMAC key spec.
pub(crate) fn digest(spec: KeySpec) -> HmacDigest {
    match spec {
        KeySpec::Hmac224 => HmacDigest::Sha224,
        KeySpec::Hmac384 => HmacDigest::Sha384,
        KeySpec::Hmac512 => HmacDigest::Sha512,
        _ => HmacDigest::Sha256,
    }
}

impl KeyKind for Hmac {
    fn name(&self) -> &'static str {
        "HMAC"
    }

    fn specs(&self) -> &'static [KeySpec] {
        &[
            KeySpec::Hmac224,
            KeySpec::Hmac256,
            KeySpec::Hmac384,
            KeySpec::Hmac512,
        ]
    }

    fn usages(&self, _spec: KeySpec) -> &'static [KeyUsage] {
        &[KeyUsage::GenerateVerifyMac]
    }

    fn default_usage(&self) -> Option<KeyUsage> {
        None
    }

    fn mac_algorithms(&self, spec: KeySpec, usage: KeyUsage) -> &'static [MacAlgorithm] {
        if usage != KeyUsage::GenerateVerifyMac {
            return &[];
        }
        match spec {
            KeySpec::Hmac224 => &[MacAlgorithm::HmacSha224],
            KeySpec::Hmac384 => &[MacAlgorithm::HmacSha384],
            KeySpec::Hmac512 => &[MacAlgorithm::HmacSha512],
            _ => &[MacAlgorithm::HmacSha256],
        }
    }

    fn material_template(&self, spec: KeySpec, _usage: KeyUsage) -> MaterialTemplate {
        MaterialTemplate::Secret(SecretKeyTemplate::hmac(digest(spec)))
    }

    fn operations(&self) -> &'static [Operation] {
        &[Operation::GenerateMac, Operation::VerifyMac]
    }

    // ---- MACs (GenerateMac, VerifyMac) ----
}
