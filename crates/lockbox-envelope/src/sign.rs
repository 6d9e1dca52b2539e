//! The signing suite's ECDSA P-384 signature: a SHA-384 digest of the header and body,
//! signed with a key made for the message, whose public half travels in the encryption
//! context under `aws-crypto-public-key` (base64 of the compressed SEC1 point).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p384::ecdsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
use rand_core::OsRng;
use sha2::{Digest, Sha384};

use crate::error::EnvelopeError;

/// The encryption-context key of the signing suite's public key.
pub const PUBLIC_KEY_CONTEXT_KEY: &str = "aws-crypto-public-key";

/// The DER signature length the AWS Encryption SDK writes for P-384 (r with its sign byte,
/// s low and full length). Readers accept any valid DER signature.
pub(crate) const SIGNATURE_LEN: usize = 103;

/// A message's private signing key. No Debug; the scalar is zeroized on drop by `p384`.
#[derive(Clone)]
pub struct MessageSigningKey(SigningKey);

impl MessageSigningKey {
    /// A fresh key from the operating system's generator.
    pub fn generate() -> MessageSigningKey {
        MessageSigningKey(SigningKey::random(&mut OsRng))
    }

    /// The public key as the encryption context carries it.
    pub fn public_key_text(&self) -> String {
        let point = self.0.verifying_key().to_encoded_point(true);
        STANDARD.encode(point.as_bytes())
    }
}

/// A message's public verification key.
#[derive(Clone, Debug)]
pub struct MessageVerifyingKey(VerifyingKey);

impl MessageVerifyingKey {
    /// Decodes the context's `aws-crypto-public-key` value.
    pub fn from_context_text(text: &str) -> Result<MessageVerifyingKey, EnvelopeError> {
        let bytes = STANDARD.decode(text.as_bytes()).map_err(|_| {
            EnvelopeError::Malformed(format!("{PUBLIC_KEY_CONTEXT_KEY} is not base64"))
        })?;
        VerifyingKey::from_sec1_bytes(&bytes)
            .map(MessageVerifyingKey)
            .map_err(|_| {
                EnvelopeError::Malformed(format!(
                    "{PUBLIC_KEY_CONTEXT_KEY} is not a P-384 public key"
                ))
            })
    }
}

/// Accumulates the digest of everything written, then signs it.
pub(crate) struct Signer {
    key: MessageSigningKey,
    digest: Sha384,
}

impl Signer {
    pub(crate) fn new(key: MessageSigningKey) -> Signer {
        Signer {
            key,
            digest: Sha384::new(),
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }

    /// The footer: u16 BE signature length, then the DER signature.
    pub(crate) fn footer(self) -> Result<Vec<u8>, EnvelopeError> {
        let digest = self.digest.finalize();
        // Sign with fresh nonces until the signature has the length the AWS SDKs write, as
        // they do, so message lengths are predictable; about two tries on average.
        let mut last = Vec::new();
        for _ in 0..64 {
            let sig: Signature = self
                .key
                .0
                .sign_prehash_with_rng(&mut OsRng, &digest)
                .map_err(|_| EnvelopeError::InvalidInput("ECDSA signing failed".into()))?;
            let sig = sig.normalize_s().unwrap_or(sig);
            let der = sig.to_der();
            last = der.as_bytes().to_vec();
            if last.len() == SIGNATURE_LEN {
                break;
            }
        }
        let mut out = Vec::with_capacity(2 + last.len());
        let len = u16::try_from(last.len())
            .map_err(|_| EnvelopeError::InvalidInput("signature too long".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&last);
        Ok(out)
    }
}

/// Accumulates the digest of everything read, then checks the footer's signature.
pub(crate) struct Verifier {
    key: MessageVerifyingKey,
    digest: Sha384,
}

impl Verifier {
    pub(crate) fn new(key: MessageVerifyingKey) -> Verifier {
        Verifier {
            key,
            digest: Sha384::new(),
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }

    pub(crate) fn verify(self, der: &[u8]) -> Result<(), EnvelopeError> {
        let sig = Signature::from_der(der).map_err(|_| {
            EnvelopeError::Authentication("the signature is not a DER ECDSA signature".into())
        })?;
        let digest = self.digest.finalize();
        self.key.0.verify_prehash(&digest, &sig).map_err(|_| {
            EnvelopeError::Authentication("the message signature does not verify".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_with_the_context_key() -> Result<(), EnvelopeError> {
        let key = MessageSigningKey::generate();
        let text = key.public_key_text();
        assert_eq!(text.len(), 68, "base64 of a 49-byte compressed point");
        let mut s = Signer::new(key);
        s.update(b"header");
        s.update(b"body");
        let footer = s.footer()?;
        assert_eq!(footer.len(), 2 + SIGNATURE_LEN);
        assert_eq!(
            usize::from(u16::from_be_bytes([footer[0], footer[1]])),
            SIGNATURE_LEN
        );
        let verify = |data: &[u8], der: &[u8]| -> Result<(), EnvelopeError> {
            let mut v = Verifier::new(MessageVerifyingKey::from_context_text(&text)?);
            v.update(data);
            v.verify(der)
        };
        verify(b"headerbody", &footer[2..])?;
        assert!(matches!(
            verify(b"headerbodY", &footer[2..]),
            Err(EnvelopeError::Authentication(_))
        ));
        let mut bad = footer[2..].to_vec();
        bad[40] ^= 1;
        assert!(matches!(
            verify(b"headerbody", &bad),
            Err(EnvelopeError::Authentication(_))
        ));
        assert!(matches!(
            MessageVerifyingKey::from_context_text("AAAA"),
            Err(EnvelopeError::Malformed(_))
        ));
        Ok(())
    }
}
