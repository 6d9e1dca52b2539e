//! The signature operations: Sign, Verify, and GetPublicKey (the public half a verifier
//! outside Lockbox needs).
//!
//! The engine checks the message against AWS's rules and turns it into the digest the key
//! kind signs: a RAW message is hashed here with the algorithm's hash function (public,
//! non-secret work), a DIGEST must have exactly that function's length. The private-key
//! operation happens in the token, through the key's kind.

use lockbox_api::*;
use sha2::Digest;

use super::check_length;
use super::grants::check_grant_tokens;
use crate::authz::Authorized;
use crate::authz::{Facts, Value};
use crate::core::{Call, Engine};
use crate::policy::keys;

impl Engine {
    pub(crate) fn sign(
        &self,
        call: &mut Call<'_>,
        req: SignRequest,
    ) -> Result<SignResponse, KmsError> {
        check_grant_tokens(&req.grant_tokens)?;
        let (auth, digest) = self.signing_digest(
            call,
            Action::Sign,
            &req.key_id,
            req.signing_algorithm,
            req.message_type,
            &req.message,
        )?;
        let signature = self.with_current_material("sign", &auth, |kind, m| {
            kind.sign(&self.token, m, req.signing_algorithm, &digest)
        })?;
        Ok(SignResponse {
            key_id: self.arn(auth.record()),
            signature,
            signing_algorithm: req.signing_algorithm,
        })
    }

    pub(crate) fn verify(
        &self,
        call: &mut Call<'_>,
        req: VerifyRequest,
    ) -> Result<VerifyResponse, KmsError> {
        check_length("signature", req.signature.len(), MAX_CIPHERTEXT_LEN)?;
        check_grant_tokens(&req.grant_tokens)?;
        let (auth, digest) = self.signing_digest(
            call,
            Action::Verify,
            &req.key_id,
            req.signing_algorithm,
            req.message_type,
            &req.message,
        )?;
        let valid = self.with_current_material("verify", &auth, |kind, m| {
            kind.verify(
                &self.token,
                m,
                req.signing_algorithm,
                &digest,
                &req.signature,
            )
        })?;
        if !valid {
            return Err(KmsError::new(
                ErrorKind::KmsInvalidSignature,
                "The signature is not valid for this message, key and signing algorithm.",
            ));
        }
        Ok(VerifyResponse {
            key_id: self.arn(auth.record()),
            signature_valid: true,
            signing_algorithm: req.signing_algorithm,
        })
    }

    pub(crate) fn get_public_key(
        &self,
        call: &mut Call<'_>,
        req: GetPublicKeyRequest,
    ) -> Result<GetPublicKeyResponse, KmsError> {
        check_grant_tokens(&req.grant_tokens)?;
        let r = self.resolve(call, &req.key_id, crate::core::Aliases::Accepted)?;
        let auth = self.authorize(call, Action::GetPublicKey, r, Facts::default())?;
        let public_key = self.with_current_material("get public key", &auth, |kind, m| {
            kind.public_key(&self.token, m)
        })?;
        let md = self.metadata(auth.record());
        Ok(GetPublicKeyResponse {
            key_id: md.arn,
            public_key,
            key_spec: md.key_spec,
            key_usage: md.key_usage,
            encryption_algorithms: md.encryption_algorithms,
            signing_algorithms: md.signing_algorithms,
            key_agreement_algorithms: md.key_agreement_algorithms,
        })
    }

    /// What Sign and Verify share before the token: the message checked, the key
    /// resolved, authorized for `action` (with the algorithm and message type as condition
    /// keys), of usage SIGN_VERIFY, with `algorithm` one its spec allows; and the digest the
    /// kind signs or verifies.
    fn signing_digest(
        &self,
        call: &mut Call<'_>,
        action: Action,
        key_id: &KeyRef,
        algorithm: SigningAlgorithm,
        message_type: Option<MessageType>,
        message: &Plaintext,
    ) -> Result<(Authorized, Vec<u8>), KmsError> {
        check_length("message", message.len(), MAX_MESSAGE_LEN)?;
        let message_type = message_type.unwrap_or(MessageType::Raw);
        let auth = self.key_of_usage(
            call,
            action,
            key_id,
            KeyUsage::SignVerify,
            signing_facts(algorithm, message_type),
        )?;
        self.check_signing_algorithm(auth.record(), algorithm)?;
        let digest = digest(algorithm, message_type, message.expose_secret())?;
        call.proceed()?;
        Ok((auth, digest))
    }

    /// Refuses a signing algorithm the key's spec does not allow.
    fn check_signing_algorithm(
        &self,
        r: &lockbox_store::KeyRecord,
        algorithm: SigningAlgorithm,
    ) -> Result<(), KmsError> {
        let allowed = crate::keykind::for_spec(r.spec)?.signing_algorithms(r.spec, r.usage);
        if allowed.contains(&algorithm) {
            return Ok(());
        }
        Err(KmsError::new(
            ErrorKind::InvalidKeyUsage,
            format!(
                "Signing algorithm {algorithm} is not valid for {}, whose key spec is {}; \
                 it supports {}.",
                self.arn(r),
                r.spec,
                allowed
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }
}

/// The facts Sign and Verify tell the policy decision.
fn signing_facts(algorithm: SigningAlgorithm, message_type: MessageType) -> Facts<'static> {
    Facts {
        extra: vec![
            (
                keys::SIGNING_ALGORITHM,
                Value::Str(algorithm.as_str().into()),
            ),
            (keys::MESSAGE_TYPE, Value::Str(message_type.as_str().into())),
        ],
        ..Facts::default()
    }
}

/// The hash function of a signing algorithm, by its digest length.
fn digest_len(algorithm: SigningAlgorithm) -> Option<usize> {
    use SigningAlgorithm::*;
    match algorithm {
        RsassaPssSha256 | RsassaPkcs1V15Sha256 | EcdsaSha256 => Some(32),
        RsassaPssSha384 | RsassaPkcs1V15Sha384 | EcdsaSha384 => Some(48),
        RsassaPssSha512 | RsassaPkcs1V15Sha512 | EcdsaSha512 => Some(64),
        _ => None,
    }
}

/// The digest a key kind signs: the RAW message hashed with the algorithm's hash function,
/// or the DIGEST given, which must have that function's length.
fn digest(
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, KmsError> {
    // An algorithm without a hash here is one no key kind allows: the algorithm check has
    // refused it already.
    let Some(len) = digest_len(algorithm) else {
        return Err(KmsError::new(
            ErrorKind::InvalidKeyUsage,
            format!("Signing algorithm {algorithm} is not supported."),
        ));
    };
    match message_type {
        MessageType::Raw => Ok(match len {
            32 => sha2::Sha256::digest(message).to_vec(),
            48 => sha2::Sha384::digest(message).to_vec(),
            _ => sha2::Sha512::digest(message).to_vec(),
        }),
        MessageType::Digest if message.len() == len => Ok(message.to_vec()),
        MessageType::Digest => Err(KmsError::validation(format!(
            "Digest is invalid length for algorithm {algorithm}: it has {} bytes, the \
             algorithm's digest has {len}.",
            message.len()
        ))),
        MessageType::ExternalMu => Err(KmsError::validation(format!(
            "MessageType EXTERNAL_MU is valid only for ML-DSA keys, not with {algorithm}."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_messages_are_hashed_with_the_algorithms_hash() -> Result<(), KmsError> {
        // FIPS 180-2 "abc" vectors, first and last bytes.
        let d = digest(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"abc")?;
        assert_eq!((d.len(), d[0], d[31]), (32, 0xba, 0xad));
        let d = digest(SigningAlgorithm::RsassaPssSha384, MessageType::Raw, b"abc")?;
        assert_eq!((d.len(), d[0], d[47]), (48, 0xcb, 0xa7));
        let d = digest(
            SigningAlgorithm::RsassaPkcs1V15Sha512,
            MessageType::Raw,
            b"abc",
        )?;
        assert_eq!((d.len(), d[0], d[63]), (64, 0xdd, 0x9f));
        Ok(())
    }

    #[test]
    fn digests_must_have_the_algorithms_length() {
        assert_eq!(
            digest(SigningAlgorithm::EcdsaSha256, MessageType::Digest, &[7; 32]).ok(),
            Some(vec![7; 32])
        );
        let e = digest(SigningAlgorithm::EcdsaSha384, MessageType::Digest, &[7; 32])
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert_eq!(
            e.message(),
            "Digest is invalid length for algorithm ECDSA_SHA_384: it has 32 bytes, the \
             algorithm's digest has 48."
        );
        let e = digest(
            SigningAlgorithm::EcdsaSha256,
            MessageType::ExternalMu,
            &[7; 64],
        )
        .err()
        .unwrap();
        assert_eq!(e.kind(), ErrorKind::Validation);
    }
}
