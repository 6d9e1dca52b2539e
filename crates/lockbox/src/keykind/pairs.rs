//! Data key pairs (GenerateDataKeyPair): a key pair the token generates for the caller to
//! hold, returned as a DER SubjectPublicKeyInfo and a PKCS#8 private key.
//!
//! The token makes the pair as session objects and hands back its components, in zeroizing
//! buffers (`lockbox_token`'s `data_key_pair`). The private key is encoded here, with
//! RustCrypto's `pkcs1`, `sec1` and `pkcs8`, into zeroizing buffers sized from the encoders'
//! own length answers (see docs/formats/asymmetric.md, "Data key pairs"); the SPKI is the
//! token crate's, the same encoder GetPublicKey uses:
//!
//! - RSA: PKCS#8 v1 PrivateKeyInfo (RFC 5208), algorithm rsaEncryption with NULL
//!   parameters, holding a two-prime RSAPrivateKey (RFC 8017); the SPKI holds an
//!   RSAPublicKey.
//! - EC: PKCS#8 v1 PrivateKeyInfo, algorithm id-ecPublicKey with the curve's namedCurve OID,
//!   holding a SEC1 ECPrivateKey (RFC 5915) with the field-size private scalar, the curve OID
//!   and the uncompressed public point; the SPKI holds the uncompressed point (RFC 5480).

use der::Encode;
use der::asn1::{AnyRef, ObjectIdentifier, UintRef};
use lockbox_api::{DataKeyPairSpec, ErrorKind, KeySpec, KmsError};
use lockbox_token::{
    Curve, Mech, Requirement, RsaBits, Token, ec_public_key_info, rsa_public_key_info,
};
use pkcs8::PrivateKeyInfo;
use sec1::{EcParameters, EcPrivateKey};
use spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use super::KindError;
use super::peer_key::curve_oid;

/// A data key pair.
pub(crate) struct DataKeyPair {
    /// X.509 SubjectPublicKeyInfo, DER.
    pub(crate) public_key: Vec<u8>,
    /// PKCS#8 PrivateKeyInfo, DER, in a zeroizing buffer.
    pub(crate) private_key: Zeroizing<Vec<u8>>,
}

/// id-ecPublicKey (RFC 5480).
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// rsaEncryption (RFC 8017).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Generates a data key pair of `spec` with the token.
///
/// SM2 and ECC_NIST_EDWARDS25519 are refused: UnsupportedOperationException.
pub(crate) fn generate_data_key_pair(
    token: &Token,
    spec: DataKeyPairSpec,
) -> Result<DataKeyPair, KindError> {
    check_token_supports(token, spec)?;
    match spec {
        DataKeyPairSpec::Rsa2048 => rsa(token, RsaBits::Rsa2048),
        DataKeyPairSpec::Rsa3072 => rsa(token, RsaBits::Rsa3072),
        DataKeyPairSpec::Rsa4096 => rsa(token, RsaBits::Rsa4096),
        DataKeyPairSpec::EccNistP256 => ec(token, Curve::P256, KeySpec::EccNistP256),
        DataKeyPairSpec::EccNistP384 => ec(token, Curve::P384, KeySpec::EccNistP384),
        DataKeyPairSpec::EccNistP521 => ec(token, Curve::P521, KeySpec::EccNistP521),
        DataKeyPairSpec::EccSecgP256k1 => ec(token, Curve::Secp256k1, KeySpec::EccSecgP256k1),
        DataKeyPairSpec::Sm2 | DataKeyPairSpec::EccNistEdwards25519 => {
            Err(KindError::Refused(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!(
                    "KeyPairSpec {spec} is not supported; RSA_2048, RSA_3072, RSA_4096, \
                     ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521 and ECC_SECG_P256K1 are."
                ),
            )))
        }
    }
}

/// What the token needs to generate a pair of `spec` (none for the specs refused anyway).
fn token_requirements(spec: DataKeyPairSpec) -> Vec<Requirement> {
    let rsa = |bits: u64| {
        vec![
            Requirement::Mechanism(Mech::RsaKeyPairGen),
            Requirement::RsaModulus(bits),
        ]
    };
    let ec = |c: Curve| {
        vec![
            Requirement::Mechanism(Mech::EcKeyPairGen),
            Requirement::Curve(c),
        ]
    };
    match spec {
        DataKeyPairSpec::Rsa2048 => rsa(2048),
        DataKeyPairSpec::Rsa3072 => rsa(3072),
        DataKeyPairSpec::Rsa4096 => rsa(4096),
        DataKeyPairSpec::EccNistP256 => ec(Curve::P256),
        DataKeyPairSpec::EccNistP384 => ec(Curve::P384),
        DataKeyPairSpec::EccNistP521 => ec(Curve::P521),
        DataKeyPairSpec::EccSecgP256k1 => ec(Curve::Secp256k1),
        DataKeyPairSpec::Sm2 | DataKeyPairSpec::EccNistEdwards25519 => Vec::new(),
    }
}

/// Refuses a pair spec the token cannot generate (the capability probe at open decides), as
/// CreateKey refuses a key spec: UnsupportedOperationException naming what is missing.
fn check_token_supports(token: &Token, spec: DataKeyPairSpec) -> Result<(), KindError> {
    match token
        .capabilities()
        .first_missing(&token_requirements(spec))
    {
        None => Ok(()),
        Some(missing) => Err(KindError::Refused(KmsError::new(
            ErrorKind::UnsupportedOperation,
            format!("KeyPairSpec {spec} needs {missing}, which this token does not support."),
        ))),
    }
}

fn encoding_failed(what: &str, e: impl std::fmt::Display) -> KindError {
    KindError::Refused(KmsError::new(
        ErrorKind::KmsInternal,
        format!("could not encode a data key pair's {what}: {e}"),
    ))
}

/// DER of `value` into a zeroizing buffer of exactly its encoded length.
fn encode_secret(what: &str, value: &impl Encode) -> Result<Zeroizing<Vec<u8>>, KindError> {
    let len = value
        .encoded_len()
        .and_then(usize::try_from)
        .map_err(|e| encoding_failed(what, e))?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    let written = value
        .encode_to_slice(&mut out)
        .map_err(|e| encoding_failed(what, e))?
        .len();
    if written != len {
        return Err(encoding_failed(
            what,
            format_args!("{written} bytes written of {len} announced"),
        ));
    }
    Ok(out)
}

fn uint<'a>(what: &str, v: &'a [u8]) -> Result<UintRef<'a>, KindError> {
    UintRef::new(v).map_err(|e| encoding_failed(what, e))
}

fn rsa(token: &Token, bits: RsaBits) -> Result<DataKeyPair, KindError> {
    let k = token.generate_rsa_data_key_pair(bits)?;
    let algorithm = AlgorithmIdentifierRef {
        oid: RSA_ENCRYPTION,
        parameters: Some(AnyRef::NULL),
    };
    let public_key = rsa_public_key_info(&k.modulus, &k.public_exponent)?;
    let private = pkcs1::RsaPrivateKey {
        modulus: uint("modulus", &k.modulus)?,
        public_exponent: uint("public exponent", &k.public_exponent)?,
        private_exponent: uint("private exponent", &k.private_exponent)?,
        prime1: uint("prime", &k.prime1)?,
        prime2: uint("prime", &k.prime2)?,
        exponent1: uint("CRT exponent", &k.exponent1)?,
        exponent2: uint("CRT exponent", &k.exponent2)?,
        coefficient: uint("CRT coefficient", &k.coefficient)?,
        other_prime_infos: None,
    };
    let rsa_private_key = encode_secret("RSAPrivateKey", &private)?;
    let pkcs8 = PrivateKeyInfo {
        algorithm,
        private_key: &rsa_private_key,
        public_key: None,
    };
    Ok(DataKeyPair {
        public_key,
        private_key: encode_secret("PrivateKeyInfo", &pkcs8)?,
    })
}

fn ec(token: &Token, curve: Curve, spec: KeySpec) -> Result<DataKeyPair, KindError> {
    let oid = curve_oid(spec).ok_or_else(|| {
        KindError::Refused(KmsError::new(
            ErrorKind::KmsInternal,
            format!("no curve OID for {spec}"),
        ))
    })?;
    let k = token.generate_ec_data_key_pair(curve)?;
    let algorithm = AlgorithmIdentifierRef {
        oid: ID_EC_PUBLIC_KEY,
        parameters: Some(AnyRef::from(&oid)),
    };
    let public_key = ec_public_key_info(curve, &k.public_point)?;
    let private = EcPrivateKey {
        private_key: &k.private_value,
        parameters: Some(EcParameters::NamedCurve(oid)),
        public_key: Some(&k.public_point),
    };
    let ec_private_key = encode_secret("ECPrivateKey", &private)?;
    let pkcs8 = PrivateKeyInfo {
        algorithm,
        private_key: &ec_private_key,
        public_key: None,
    };
    Ok(DataKeyPair {
        public_key,
        private_key: encode_secret("PrivateKeyInfo", &pkcs8)?,
    })
}
