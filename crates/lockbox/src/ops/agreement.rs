//! Key agreement: DeriveSharedSecret (ECDH in the token with a KEY_AGREEMENT key).

use lockbox_api::*;

use super::grants::check_grant_tokens;
use crate::authz::{Facts, Value};
use crate::core::{Call, Engine};
use crate::policy::keys;

impl Engine {
    pub(crate) fn derive_shared_secret(
        &self,
        call: &mut Call<'_>,
        req: DeriveSharedSecretRequest,
    ) -> Result<DeriveSharedSecretResponse, KmsError> {
        check_grant_tokens(&req.grant_tokens)?;
        let algorithm = req.key_agreement_algorithm;
        let facts = Facts {
            extra: vec![(
                keys::KEY_AGREEMENT_ALGORITHM,
                Value::Str(algorithm.as_str().into()),
            )],
            ..Facts::default()
        };
        let auth = self.key_of_usage(
            call,
            Action::DeriveSharedSecret,
            &req.key_id,
            KeyUsage::KeyAgreement,
            facts,
        )?;
        let r = auth.record();
        let allowed = crate::keykind::for_spec(r.spec)?.key_agreement_algorithms(r.usage);
        if !allowed.contains(&algorithm) {
            return Err(KmsError::new(
                ErrorKind::InvalidKeyUsage,
                format!(
                    "Key agreement algorithm {algorithm} is not valid for {}.",
                    self.arn(r)
                ),
            ));
        }
        call.proceed()?;
        let secret = self.with_current_material("derive shared secret", &auth, |kind, m| {
            kind.derive_shared_secret(&self.token, m, &req.public_key)
        })?;
        Ok(DeriveSharedSecretResponse {
            key_id: self.arn(r),
            shared_secret: Plaintext::from(secret),
            key_agreement_algorithm: algorithm,
            key_origin: r.origin,
        })
    }
}
