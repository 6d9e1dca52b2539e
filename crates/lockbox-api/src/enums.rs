//! The AWS string enums: key specs, usages, states, origins, algorithms.
//!
//! Each parses from and prints as its exact AWS name; an unknown name is a
//! `ValidationException` that lists the accepted values, as AWS words it.

use std::fmt;
use std::str::FromStr;

use crate::error::KmsError;
use crate::ids::shorten;

macro_rules! aws_enum {
    (
        $(#[$meta:meta])*
        $name:ident, field = $field:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`", $text, "`")] $variant, )+
        }

        impl $name {
            /// Every value, in the order the AWS model lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The AWS name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = KmsError;
            fn from_str(s: &str) -> Result<Self, KmsError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(KmsError::constraint(
                        $field,
                        shorten(s),
                        concat!("Member must satisfy enum value set: [", aws_enum!(@list $($text),+), "]"),
                    )),
                }
            }
        }
    };
    (@list $first:literal $(, $rest:literal)*) => { concat!($first $(, ", ", $rest)*) };
}

aws_enum! {
    /// The type of key material and the algorithms it supports.
    KeySpec, field = "keySpec" {
        Rsa2048 => "RSA_2048",
        Rsa3072 => "RSA_3072",
        Rsa4096 => "RSA_4096",
        EccNistP256 => "ECC_NIST_P256",
        EccNistP384 => "ECC_NIST_P384",
        EccNistP521 => "ECC_NIST_P521",
        EccSecgP256k1 => "ECC_SECG_P256K1",
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        Hmac224 => "HMAC_224",
        Hmac256 => "HMAC_256",
        Hmac384 => "HMAC_384",
        Hmac512 => "HMAC_512",
        Sm2 => "SM2",
        MlDsa44 => "ML_DSA_44",
        MlDsa65 => "ML_DSA_65",
        MlDsa87 => "ML_DSA_87",
        EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
        MlKem512 => "ML_KEM_512",
        MlKem768 => "ML_KEM_768",
        MlKem1024 => "ML_KEM_1024",
    }
}

aws_enum! {
    /// The cryptographic operations a key may be used for.
    KeyUsage, field = "keyUsage" {
        SignVerify => "SIGN_VERIFY",
        EncryptDecrypt => "ENCRYPT_DECRYPT",
        GenerateVerifyMac => "GENERATE_VERIFY_MAC",
        KeyAgreement => "KEY_AGREEMENT",
        EncapsulateDecapsulate => "ENCAPSULATE_DECAPSULATE",
    }
}

aws_enum! {
    /// A key's lifecycle state.
    KeyState, field = "keyState" {
        Creating => "Creating",
        Enabled => "Enabled",
        Disabled => "Disabled",
        PendingDeletion => "PendingDeletion",
        PendingImport => "PendingImport",
        PendingReplicaDeletion => "PendingReplicaDeletion",
        Unavailable => "Unavailable",
        Updating => "Updating",
    }
}

aws_enum! {
    /// Where a key's material came from.
    Origin, field = "origin" {
        AwsKms => "AWS_KMS",
        External => "EXTERNAL",
        AwsCloudhsm => "AWS_CLOUDHSM",
        ExternalKeyStore => "EXTERNAL_KEY_STORE",
    }
}

aws_enum! {
    /// The algorithm of an Encrypt, Decrypt or ReEncrypt call.
    EncryptionAlgorithm, field = "encryptionAlgorithm" {
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        Sm2pke => "SM2PKE",
    }
}

aws_enum! {
    /// The algorithm of a Sign or Verify call.
    SigningAlgorithm, field = "signingAlgorithm" {
        RsassaPssSha256 => "RSASSA_PSS_SHA_256",
        RsassaPssSha384 => "RSASSA_PSS_SHA_384",
        RsassaPssSha512 => "RSASSA_PSS_SHA_512",
        RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
        RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
        RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
        EcdsaSha256 => "ECDSA_SHA_256",
        EcdsaSha384 => "ECDSA_SHA_384",
        EcdsaSha512 => "ECDSA_SHA_512",
        Sm2dsa => "SM2DSA",
        MlDsaShake256 => "ML_DSA_SHAKE_256",
        Ed25519Sha512 => "ED25519_SHA_512",
        Ed25519PhSha512 => "ED25519_PH_SHA_512",
    }
}

aws_enum! {
    /// What a Sign or Verify message is: the message itself, or its digest.
    MessageType, field = "messageType" {
        Raw => "RAW",
        Digest => "DIGEST",
        ExternalMu => "EXTERNAL_MU",
    }
}

aws_enum! {
    /// The algorithm of a GenerateMac or VerifyMac call.
    MacAlgorithm, field = "macAlgorithm" {
        HmacSha224 => "HMAC_SHA_224",
        HmacSha256 => "HMAC_SHA_256",
        HmacSha384 => "HMAC_SHA_384",
        HmacSha512 => "HMAC_SHA_512",
    }
}

aws_enum! {
    /// The algorithm of a DeriveSharedSecret call.
    KeyAgreementAlgorithm, field = "keyAgreementAlgorithm" {
        Ecdh => "ECDH",
    }
}

aws_enum! {
    /// The type of key pair GenerateDataKeyPair makes.
    DataKeyPairSpec, field = "keyPairSpec" {
        Rsa2048 => "RSA_2048",
        Rsa3072 => "RSA_3072",
        Rsa4096 => "RSA_4096",
        EccNistP256 => "ECC_NIST_P256",
        EccNistP384 => "ECC_NIST_P384",
        EccNistP521 => "ECC_NIST_P521",
        EccSecgP256k1 => "ECC_SECG_P256K1",
        Sm2 => "SM2",
        EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
    }
}

aws_enum! {
    /// The length of a data key, named by its AES key size.
    DataKeySpec, field = "keySpec" {
        Aes256 => "AES_256",
        Aes128 => "AES_128",
    }
}

aws_enum! {
    /// Who manages a key: the customer, or AWS on the customer's behalf.
    KeyManager, field = "keyManager" {
        Aws => "AWS",
        Customer => "CUSTOMER",
    }
}

aws_enum! {
    /// How a key material version came about (ListKeyRotations).
    RotationType, field = "rotationType" {
        Automatic => "AUTOMATIC",
        OnDemand => "ON_DEMAND",
    }
}

aws_enum! {
    /// Which material versions ListKeyRotations lists.
    IncludeKeyMaterial, field = "includeKeyMaterial" {
        AllKeyMaterial => "ALL_KEY_MATERIAL",
        RotationsOnly => "ROTATIONS_ONLY",
    }
}

aws_enum! {
    /// Whether a material version is the one new ciphertexts use.
    KeyMaterialState, field = "keyMaterialState" {
        NonCurrent => "NON_CURRENT",
        Current => "CURRENT",
        PendingRotation => "PENDING_ROTATION",
        PendingMultiRegionImportAndRotation => "PENDING_MULTI_REGION_IMPORT_AND_ROTATION",
    }
}

aws_enum! {
    /// How key material is wrapped for ImportKeyMaterial (GetParametersForImport).
    AlgorithmSpec, field = "wrappingAlgorithm" {
        RsaesPkcs1V15 => "RSAES_PKCS1_V1_5",
        RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
        RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        Sm2Pke => "SM2PKE",
    }
}

aws_enum! {
    /// The wrapping key pair GetParametersForImport makes.
    WrappingKeySpec, field = "wrappingKeySpec" {
        Rsa2048 => "RSA_2048",
        Rsa3072 => "RSA_3072",
        Rsa4096 => "RSA_4096",
        Sm2 => "SM2",
    }
}

aws_enum! {
    /// Whether imported key material expires.
    ExpirationModelType, field = "expirationModel" {
        KeyMaterialExpires => "KEY_MATERIAL_EXPIRES",
        KeyMaterialDoesNotExpire => "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
}

aws_enum! {
    /// Whether ImportKeyMaterial brings new material or re-imports material the key had.
    ImportType, field = "importType" {
        NewKeyMaterial => "NEW_KEY_MATERIAL",
        ExistingKeyMaterial => "EXISTING_KEY_MATERIAL",
    }
}

aws_enum! {
    /// Whether a version of imported material is in the token now (ListKeyRotations).
    ImportState, field = "importState" {
        Imported => "IMPORTED",
        PendingImport => "PENDING_IMPORT",
    }
}

aws_enum! {
    /// A multi-Region key's role.
    MultiRegionKeyType, field = "multiRegionKeyType" {
        Primary => "PRIMARY",
        Replica => "REPLICA",
    }
}

impl DataKeySpec {
    /// The data key's length in bytes.
    pub fn byte_len(self) -> usize {
        match self {
            DataKeySpec::Aes128 => 16,
            DataKeySpec::Aes256 => 32,
        }
    }
}

aws_enum! {
    /// An operation a grant allows.
    GrantOperation, field = "operations" {
        Decrypt => "Decrypt",
        Encrypt => "Encrypt",
        GenerateDataKey => "GenerateDataKey",
        GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
        ReEncryptFrom => "ReEncryptFrom",
        ReEncryptTo => "ReEncryptTo",
        Sign => "Sign",
        Verify => "Verify",
        GetPublicKey => "GetPublicKey",
        CreateGrant => "CreateGrant",
        RetireGrant => "RetireGrant",
        DescribeKey => "DescribeKey",
        GenerateDataKeyPair => "GenerateDataKeyPair",
        GenerateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
        GenerateMac => "GenerateMac",
        VerifyMac => "VerifyMac",
        DeriveSharedSecret => "DeriveSharedSecret",
        Encapsulate => "Encapsulate",
        Decapsulate => "Decapsulate",
    }
}

impl GrantOperation {
    /// True for the operations whose requests carry an encryption context, the only ones a
    /// grant constraint can restrict.
    pub fn takes_encryption_context(self) -> bool {
        matches!(
            self,
            GrantOperation::Decrypt
                | GrantOperation::Encrypt
                | GrantOperation::GenerateDataKey
                | GrantOperation::GenerateDataKeyWithoutPlaintext
                | GrantOperation::ReEncryptFrom
                | GrantOperation::ReEncryptTo
                | GrantOperation::GenerateDataKeyPair
                | GrantOperation::GenerateDataKeyPairWithoutPlaintext
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn names_round_trip() -> Result<(), KmsError> {
        for spec in KeySpec::ALL {
            assert_eq!(spec.as_str().parse::<KeySpec>()?, *spec);
        }
        for state in KeyState::ALL {
            assert_eq!(state.to_string().parse::<KeyState>()?, *state);
        }
        assert_eq!("AES_128".parse::<DataKeySpec>()?.byte_len(), 16);
        Ok(())
    }

    #[test]
    fn unknown_name_lists_the_accepted_values() {
        let err = "AES_512".parse::<DataKeySpec>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert_eq!(
            err.message(),
            "1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy \
             constraint: Member must satisfy enum value set: [AES_256, AES_128]"
        );
    }
}
