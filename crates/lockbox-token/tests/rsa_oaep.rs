//! RSAES-OAEP (SHA-1 and SHA-256) with key pairs in a throwaway SoftHSM token, checked
//! against Python's `cryptography` (which nobody here wrote): its ciphertexts, made with the
//! public key the token exports, decrypt in the token; the host-side EME-OAEP-SHA-256
//! encoding with a known seed is decrypted by `cryptography`, and `cryptography`'s encodings
//! decode here.
//!
//! Python's `cryptography` is the project's oracle (`tests/oracle/`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod oracle;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::Attribute;
use lockbox_token::oaep::{self, DecodeError};
use lockbox_token::{
    KeyPairObjects, KeyPairTemplate, OaepHash, RsaBits, RsaPurpose, Token, TokenError, token_test,
};

fn pair(token: &Token, bits: RsaBits) -> Result<KeyPairObjects, TokenError> {
    token.generate_key_pair(
        &KeyPairTemplate::rsa(bits, RsaPurpose::EncryptDecrypt),
        &format!("rsa/{}", bits.bits()),
    )
}

token_test!(fn round_trips_for_both_hashes_and_every_size_up_to_the_limit(t) {
    let token = t.open()?;
    for (bits, k) in [(RsaBits::Rsa2048, 256usize), (RsaBits::Rsa3072, 384), (RsaBits::Rsa4096, 512)] {
        let p = pair(&token, bits)?;
        let numbers = token.rsa_public_numbers(&p.public)?;
        assert_eq!(numbers.modulus_len(), k);
        assert_eq!(numbers.public_exponent, [1, 0, 1]);
        // Both halves name the same modulus.
        assert_eq!(token.rsa_public_numbers(&p.private)?, numbers);
        for (hash, max) in [(OaepHash::Sha1, k - 42), (OaepHash::Sha256, k - 66)] {
            assert_eq!(hash.max_plaintext_len(k), max);
            for len in [1, 17, max] {
                let m: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let c = token.rsa_oaep_encrypt(&p.public, hash, &m)?;
                assert_eq!(c.len(), k);
                // OAEP is randomized.
                assert_ne!(c, token.rsa_oaep_encrypt(&p.public, hash, &m)?);
                assert_eq!(token.rsa_oaep_decrypt(&p.private, hash, &c)?.as_slice(), m.as_slice());
                // The other hash never opens it.
                let other = if hash == OaepHash::Sha1 { OaepHash::Sha256 } else { OaepHash::Sha1 };
                assert!(matches!(token.rsa_oaep_decrypt(&p.private, other, &c), Err(TokenError::DecryptFailed)));
            }
            match token.rsa_oaep_encrypt(&p.public, hash, &vec![0; max + 1]) {
                Err(TokenError::InvalidInput(msg)) => assert_eq!(msg,
                    format!("RSAES-OAEP with a {}-bit modulus carries at most {max} bytes; {} given", k * 8, max + 1)),
                other => panic!("expected InvalidInput, got {other:?}"),
            }
        }
    }
    Ok(())
});

token_test!(fn every_bad_ciphertext_is_the_one_opaque_failure(t) {
    let token = t.open()?;
    let p = pair(&token, RsaBits::Rsa2048)?;
    let q = pair(&token, RsaBits::Rsa2048)?;
    let n = token.rsa_public_numbers(&p.public)?.modulus;
    for hash in [OaepHash::Sha1, OaepHash::Sha256] {
        let c = token.rsa_oaep_encrypt(&p.public, hash, b"secret")?;
        let failed = |r: Result<_, TokenError>| matches!(r, Err(TokenError::DecryptFailed));
        // A changed bit anywhere (a sample of positions, each end included).
        for byte in [0, 1, 31, 100, 200, 254, 255] {
            let mut bad = c.clone();
            bad[byte] ^= 0x10;
            assert!(failed(token.rsa_oaep_decrypt(&p.private, hash, &bad)), "{hash:?} byte {byte}");
        }
        // Another key, a short or long ciphertext, the modulus itself and all-ones (not
        // below the modulus), zero.
        assert!(failed(token.rsa_oaep_decrypt(&q.private, hash, &c)));
        assert!(failed(token.rsa_oaep_decrypt(&p.private, hash, &c[1..])));
        assert!(failed(token.rsa_oaep_decrypt(&p.private, hash, &[c.as_slice(), &[0]].concat())));
        assert!(failed(token.rsa_oaep_decrypt(&p.private, hash, &n)));
        assert!(failed(token.rsa_oaep_decrypt(&p.private, hash, &[0xff; 256])));
        assert!(failed(token.rsa_oaep_decrypt(&p.private, hash, &[0; 256])));
        assert!(failed(token.rsa_oaep_decrypt(&p.private, hash, &[])));
        // And the session pool still works afterwards.
        assert_eq!(token.rsa_oaep_decrypt(&p.private, hash, &c)?.as_slice(), b"secret");
    }
    Ok(())
});

token_test!(fn softhsm_refuses_oaep_with_sha256_so_the_raw_path_is_the_one_tested(t) {
    // The fact the SHA-256 fallback rests on (SoftHSM 2.6.1). If a SoftHSM release accepts
    // the parameters, the in-token path runs instead and this test says so.
    let token = t.open()?;
    let p = pair(&token, RsaBits::Rsa2048)?;
    let s = t.raw_session()?;
    let h = s.find_objects(&[Attribute::Id(p.private.as_bytes().to_vec())])?[0];
    let sha256 = PkcsOaepParams::new(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, PkcsOaepSource::empty());
    match s.decrypt_init(&Mechanism::RsaPkcsOaep(sha256), h) {
        Err(CkError::Pkcs11(RvError::ArgumentsBad, _)) => {}
        other => panic!("SoftHSM answered OAEP-SHA-256 C_DecryptInit with {other:?}"),
    }
    let sha1 = PkcsOaepParams::new(MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, PkcsOaepSource::empty());
    s.decrypt_init(&Mechanism::RsaPkcsOaep(sha1), h)?;
    Ok(())
});

token_test!(fn ciphertexts_made_by_python_cryptography_decrypt_in_the_token(t) {
    // cryptography encrypts with the public key the token exports (GetPublicKey's SPKI).
    let token = t.open()?;
    for bits in [RsaBits::Rsa2048, RsaBits::Rsa3072, RsaBits::Rsa4096] {
        let p = pair(&token, bits)?;
        let spki = token.public_key_info(&p.public)?;
        let k = token.rsa_public_numbers(&p.public)?.modulus_len();
        for (hash, name) in [(OaepHash::Sha1, "RSAES_OAEP_SHA_1"), (OaepHash::Sha256, "RSAES_OAEP_SHA_256")] {
            for len in [1, hash.max_plaintext_len(k)] {
                let m: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
                let c = oracle::encrypt(t.dir(), &spki, name, &m)?;
                assert_eq!(c.len(), k);
                assert_eq!(token.rsa_oaep_decrypt(&p.private, hash, &c)?.as_slice(), m.as_slice(),
                    "{bits:?} {name} {len} bytes");
            }
        }
    }
    Ok(())
});

#[test]
fn the_host_side_sha256_encoding_with_a_known_seed_is_what_cryptography_decodes() {
    let dir = tempfile::tempdir().unwrap();
    for (seed, m) in [
        ([0u8; 32], &b"x"[..]),
        ([0xa5; 32], &[0x42; 190][..]),
        ([3; 32], &b"hello, OAEP"[..]),
    ] {
        let em = oaep::encode_sha256(256, m, &seed).unwrap();
        assert_eq!(oracle::oaep_sha256_open(dir.path(), &em).unwrap(), m);
    }
}

#[test]
fn encodings_made_by_cryptography_decode_here_and_damaged_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    for m in [&b"a"[..], &[0u8; 190][..], &b"the quick brown fox"[..]] {
        let em = oracle::oaep_sha256_encode(dir.path(), m).unwrap();
        assert_eq!(em.len(), 256);
        assert_eq!(oaep::decode_sha256(&em).unwrap().as_slice(), m);
        let mut bad = em.clone();
        bad[0] = 1;
        assert_eq!(oaep::decode_sha256(&bad), Err(DecodeError));
        let mut bad = em;
        bad[100] ^= 1;
        assert_eq!(oaep::decode_sha256(&bad), Err(DecodeError));
    }
}
