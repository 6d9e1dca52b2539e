//! HMAC_224, HMAC_256, HMAC_384, HMAC_512: a generic-secret key in the token as long as its
//! digest, sensitive and never extractable, that computes and checks HMACs (GenerateMac,
//! VerifyMac) with the one algorithm its spec names.

use lockbox_api::{ErrorKind, KeySpec, KeyUsage, KmsError, MacAlgorithm, Operation};
use lockbox_token::{HmacDigest, Mech, Requirement, SecretKeyTemplate, Token};

use super::{KeyKind, KindError, MaterialRef, MaterialTemplate};

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

    fn token_requirements(&self, spec: KeySpec, _usage: KeyUsage) -> Vec<Requirement> {
        let mac = match digest(spec) {
            HmacDigest::Sha224 => Mech::Sha224Hmac,
            HmacDigest::Sha256 => Mech::Sha256Hmac,
            HmacDigest::Sha384 => Mech::Sha384Hmac,
            HmacDigest::Sha512 => Mech::Sha512Hmac,
        };
        vec![
            Requirement::Mechanism(Mech::GenericSecretKeyGen),
            Requirement::Mechanism(mac),
        ]
    }

    fn operations(&self) -> &'static [Operation] {
        &[Operation::GenerateMac, Operation::VerifyMac]
    }

    // ---- MACs (GenerateMac, VerifyMac) ----

    fn generate_mac(
        &self,
        token: &Token,
        m: &MaterialRef,
        algorithm: MacAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, KindError> {
        let digest = algorithm_digest(m, algorithm)?;
        Ok(token.hmac(&m.object, digest, message)?)
    }

    fn verify_mac(
        &self,
        token: &Token,
        m: &MaterialRef,
        algorithm: MacAlgorithm,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, KindError> {
        let digest = algorithm_digest(m, algorithm)?;
        // Compared by the token (C_Verify); a MAC of another length is simply not valid.
        Ok(token.hmac_verify(&m.object, digest, message, mac)?)
    }
}

/// The digest `algorithm` names, which must be the one `m`'s spec has (the engine checks the
/// algorithm against the key spec first; this keeps the kind from computing a MAC with a
/// digest its key was not made for, were it ever called otherwise).
fn algorithm_digest(m: &MaterialRef, algorithm: MacAlgorithm) -> Result<HmacDigest, KindError> {
    let named = match algorithm {
        MacAlgorithm::HmacSha224 => HmacDigest::Sha224,
        MacAlgorithm::HmacSha256 => HmacDigest::Sha256,
        MacAlgorithm::HmacSha384 => HmacDigest::Sha384,
        MacAlgorithm::HmacSha512 => HmacDigest::Sha512,
    };
    if named != digest(m.spec) {
        return Err(KindError::Refused(KmsError::new(
            ErrorKind::InvalidKeyUsage,
            format!(
                "MAC algorithm {algorithm} is not valid for a key with KeySpec {}.",
                m.spec
            ),
        )));
    }
    Ok(named)
}

#[cfg(test)]
mod tests {
    use lockbox_api::KeyId;
    use lockbox_token::token_test;

    use super::*;

    token_test!(fn a_mac_algorithm_other_than_the_specs_is_refused_before_the_token(t) {
        let token = t.open()?;
        let object = token.generate_key(&SecretKeyTemplate::hmac(HmacDigest::Sha256), "k/1")?;
        let m = MaterialRef {
            spec: KeySpec::Hmac256,
            usage: KeyUsage::GenerateVerifyMac,
            key_id: KeyId::from_random_bytes([1; 16]),
            version: 1,
            object,
            public: None,
        };
        let mac = HMAC.generate_mac(&token, &m, MacAlgorithm::HmacSha256, b"x").map_err(|e| format!("{e:?}"))?;
        assert_eq!(mac, token.hmac(&object, HmacDigest::Sha256, b"x")?);
        assert!(HMAC.verify_mac(&token, &m, MacAlgorithm::HmacSha256, b"x", &mac).map_err(|e| format!("{e:?}"))?);
        for r in [
            HMAC.generate_mac(&token, &m, MacAlgorithm::HmacSha224, b"x").map(drop),
            HMAC.verify_mac(&token, &m, MacAlgorithm::HmacSha512, b"x", &mac).map(drop),
        ] {
            match r {
                Err(KindError::Refused(e)) => {
                    assert_eq!(e.kind(), ErrorKind::InvalidKeyUsage);
                    assert!(e.message().ends_with("is not valid for a key with KeySpec HMAC_256."), "{e}");
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        Ok(())
    });
}
