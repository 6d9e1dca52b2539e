//! The MAC operations: GenerateMac and VerifyMac, with HMAC keys held in the token.

use lockbox_api::*;

use super::check_length;
use super::grants::check_grant_tokens;
use crate::authz::{Facts, Value};
use crate::core::{Call, Engine};
use crate::policy::keys;

impl Engine {
    pub(crate) fn generate_mac(
        &self,
        call: &mut Call<'_>,
        req: GenerateMacRequest,
    ) -> Result<GenerateMacResponse, KmsError> {
        check_length("message", req.message.len(), MAX_MESSAGE_LEN)?;
        check_grant_tokens(&req.grant_tokens)?;
        let auth = self.mac_key(call, Action::GenerateMac, &req.key_id, req.mac_algorithm)?;
        let mac = self.with_current_material("generate mac", &auth, |kind, m| {
            kind.generate_mac(
                &self.token,
                m,
                req.mac_algorithm,
                req.message.expose_secret(),
            )
        })?;
        Ok(GenerateMacResponse {
            mac,
            mac_algorithm: req.mac_algorithm,
            key_id: self.arn(auth.record()),
        })
    }

    pub(crate) fn verify_mac(
        &self,
        call: &mut Call<'_>,
        req: VerifyMacRequest,
    ) -> Result<VerifyMacResponse, KmsError> {
        check_length("message", req.message.len(), MAX_MESSAGE_LEN)?;
        check_grant_tokens(&req.grant_tokens)?;
        let auth = self.mac_key(call, Action::VerifyMac, &req.key_id, req.mac_algorithm)?;
        let valid = self.with_current_material("verify mac", &auth, |kind, m| {
            kind.verify_mac(
                &self.token,
                m,
                req.mac_algorithm,
                req.message.expose_secret(),
                &req.mac,
            )
        })?;
        if !valid {
            return Err(KmsError::new(
                ErrorKind::KmsInvalidMac,
                "The MAC is not valid for this message, key and MAC algorithm.",
            ));
        }
        Ok(VerifyMacResponse {
            key_id: self.arn(auth.record()),
            mac_valid: true,
            mac_algorithm: req.mac_algorithm,
        })
    }

    /// The HMAC key a MAC operation uses, authorized, with `algorithm` one its spec allows.
    fn mac_key(
        &self,
        call: &mut Call<'_>,
        action: Action,
        key_id: &KeyRef,
        algorithm: MacAlgorithm,
    ) -> Result<crate::authz::Authorized, KmsError> {
        let facts = Facts {
            extra: vec![(keys::MAC_ALGORITHM, Value::Str(algorithm.as_str().into()))],
            ..Facts::default()
        };
        let auth = self.key_of_usage(call, action, key_id, KeyUsage::GenerateVerifyMac, facts)?;
        let r = auth.record();
        let allowed = crate::keykind::for_spec(r.spec)?.mac_algorithms(r.spec, r.usage);
        if !allowed.contains(&algorithm) {
            return Err(KmsError::new(
                ErrorKind::InvalidKeyUsage,
                format!(
                    "MAC algorithm {algorithm} is not valid for {}, whose key spec is {}; it \
                     supports {}.",
                    self.arn(r),
                    r.spec,
                    allowed
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        call.proceed()?;
        Ok(auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_must_have_1_to_4096_bytes() {
        for n in [1, MAX_MESSAGE_LEN] {
            assert!(
                check_length("message", Plaintext::new(vec![1; n]).len(), MAX_MESSAGE_LEN).is_ok(),
                "{n}"
            );
        }
        for n in [0, MAX_MESSAGE_LEN + 1] {
            let e = check_length("message", Plaintext::new(vec![1; n]).len(), MAX_MESSAGE_LEN)
                .err()
                .unwrap();
            assert_eq!(e.kind(), ErrorKind::Validation);
            assert_eq!(
                e.message(),
                format!(
                    "1 validation error detected: Value at 'message' failed to satisfy \
                     constraint: Member must have length {}",
                    if n == 0 {
                        "greater than or equal to 1"
                    } else {
                        "less than or equal to 4096"
                    }
                )
            );
        }
    }
}
