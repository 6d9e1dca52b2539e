//! HMACs in the token (`Token::hmac`, `Token::hmac_verify`) against outside answers: RFC 4231's
//! test vectors, and MACs Python's `hmac` module computed for keys as long as the digest (the
//! keys Lockbox's HMAC_224..HMAC_512 CMKs have).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lockbox_token::{HmacDigest, ObjectId, SecretKeyTemplate, TokenError, token_test};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const DIGESTS: [HmacDigest; 4] = [
    HmacDigest::Sha224,
    HmacDigest::Sha256,
    HmacDigest::Sha384,
    HmacDigest::Sha512,
];

/// RFC 4231 test cases 6 and 7: a 131-byte key of 0xaa (longer than every block). Cases 1-5
/// have keys of 4 to 25 bytes, shorter than SoftHSM 2.6.1 accepts for an HMAC key of these
/// digests (it requires at least the digest's length), so they cannot be run in this token.
const RFC4231_TC6_DATA: &str = "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a\
                                65204b6579202d2048617368204b6579204669727374";
const RFC4231_TC7_DATA: &str = "5468697320697320612074657374207573696e672061206c6172676572207468\
                                616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074\
                                68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565\
                                647320746f20626520686173686564206265666f7265206265696e6720757365\
                                642062792074686520484d414320616c676f726974686d2e";

fn rfc4231(case: u8, digest: HmacDigest) -> &'static str {
    match (case, digest) {
        (6, HmacDigest::Sha224) => "95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e",
        (6, HmacDigest::Sha256) => {
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        }
        (6, HmacDigest::Sha384) => {
            "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6\
             0c2ef6ab4030fe8296248df163f44952"
        }
        (6, HmacDigest::Sha512) => {
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352\
             6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"
        }
        (7, HmacDigest::Sha224) => "3a854166ac5d9f023f54d517d0b39dbd946770db9c2b95c9f6f565d1",
        (7, HmacDigest::Sha256) => {
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        }
        (7, HmacDigest::Sha384) => {
            "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5\
             a678cc31e799176d3860e6110c46523e"
        }
        (7, HmacDigest::Sha512) => {
            "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944\
             b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"
        }
        _ => unreachable!(),
    }
}

token_test!(fn hmacs_match_rfc_4231_for_every_digest(t) {
    t.import_known_hmac_key(&[0xaa; 131], [7; 16], "lockbox/rfc4231")?;
    let token = t.open()?;
    let key = ObjectId::from_bytes([7; 16]);
    for (case, data) in [(6, hex(RFC4231_TC6_DATA)), (7, hex(RFC4231_TC7_DATA))] {
        for digest in DIGESTS {
            let want = hex(rfc4231(case, digest));
            let mac = token.hmac(&key, digest, &data)?;
            assert_eq!(hex::encode(&mac), hex::encode(&want), "case {case}, {digest:?}");
            assert!(token.hmac_verify(&key, digest, &data, &want)?, "case {case}, {digest:?}");
        }
    }
    Ok(())
});

/// Key `i*7 + n` (n the digest length) and the message below; MACs computed with Python's
/// `hmac.new(key, msg, hashlib.sha*)` (CPython 3.11).
const PYTHON_MESSAGE: &str = "4c6f636b626f782047656e65726174654d616320636865636b3a20000306090c0f\
                              1215181b1e2124272a2d303336393c3f4245484b4e5154575a5d606366696c6f72\
                              75787b7e8184878a8d909396999c9fa2a5a8abaeb1b4b7babdc0c3c6c9cccfd2d5\
                              d8dbdee1e4e7eaedf0f3f6f9fcff";

fn python_mac(digest: HmacDigest) -> &'static str {
    match digest {
        HmacDigest::Sha224 => "8185994efcc4f32b339ccec3cb44b73c66d93c067956caa0df70dcff",
        HmacDigest::Sha256 => "e8c3bd5b5e136a15b51d9a04f94977f38bcec8ad531e8dfd7ae239fd19699f89",
        HmacDigest::Sha384 => {
            "94d30c5bb87f0235032cc168fd748ac84c7e652bf26e8c14a6f4fd350a2120a4\
             a42d3e14c490bdd9e6e6bdfdbce7f8da"
        }
        HmacDigest::Sha512 => {
            "5f059aea3d06353eb92fa205702d46a1383565281f7e0705c7a6c4d0535ae945\
             325ce7f38435a45241f54abcdbe40c7ff958a41b638d9f16fd75d967966a9da2"
        }
    }
}

token_test!(fn hmacs_with_digest_length_keys_match_pythons_hmac(t) {
    let message = hex(PYTHON_MESSAGE);
    for (i, digest) in DIGESTS.into_iter().enumerate() {
        let n = digest.key_len() as usize;
        let key: Vec<u8> = (0..n).map(|j| (j * 7 + n) as u8).collect();
        t.import_known_hmac_key(&key, [i as u8 + 1; 16], &format!("lockbox/python-{i}"))?;
    }
    let token = t.open()?;
    for (i, digest) in DIGESTS.into_iter().enumerate() {
        let key = ObjectId::from_bytes([i as u8 + 1; 16]);
        let mac = token.hmac(&key, digest, &message)?;
        assert_eq!(hex::encode(&mac), python_mac(digest), "{digest:?}");
        assert_eq!(mac.len() as u64, digest.key_len());
    }
    Ok(())
});

token_test!(fn verify_is_false_for_a_changed_bit_a_truncated_or_empty_mac_and_another_digest(t) {
    let token = t.open()?;
    for digest in DIGESTS {
        let key = token.generate_key(&SecretKeyTemplate::hmac(digest), "cmk/1")?;
        let msg = b"the message".as_slice();
        let mac = token.hmac(&key, digest, msg)?;
        assert_eq!(mac, token.hmac(&key, digest, msg)?, "deterministic");
        assert!(token.hmac_verify(&key, digest, msg, &mac)?);
        let mut flipped = mac.clone();
        flipped[mac.len() - 1] ^= 1;
        assert!(!token.hmac_verify(&key, digest, msg, &flipped)?, "{digest:?}");
        assert!(!token.hmac_verify(&key, digest, b"the messagf", &mac)?, "{digest:?}");
        assert!(!token.hmac_verify(&key, digest, msg, &mac[..mac.len() - 1])?, "{digest:?}");
        assert!(!token.hmac_verify(&key, digest, msg, &[])?, "{digest:?}");
        let mut longer = mac.clone();
        longer.push(0);
        assert!(!token.hmac_verify(&key, digest, msg, &longer)?, "{digest:?}");
        // The empty message has a MAC too.
        let empty = token.hmac(&key, digest, b"")?;
        assert!(token.hmac_verify(&key, digest, b"", &empty)?);
        // The same key under a shorter digest (SoftHSM refuses keys shorter than the
        // digest) gives another MAC, which this one rejects.
        if digest != HmacDigest::Sha224 {
            let m2 = token.hmac(&key, HmacDigest::Sha224, msg)?;
            assert!(!token.hmac_verify(&key, digest, msg, &m2)?);
            let mut padded = m2.clone();
            padded.resize(mac.len(), 0);
            assert!(!token.hmac_verify(&key, digest, msg, &padded)?);
        }
        // The session is usable after a failed check.
        assert!(token.hmac_verify(&key, digest, msg, &mac)?);
    }
    Ok(())
});

token_test!(fn an_aes_key_or_a_missing_key_cannot_make_a_mac(t) {
    let token = t.open()?;
    let aes = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "aes/1")?;
    match token.hmac(&aes, HmacDigest::Sha256, b"x") {
        Err(TokenError::Pkcs11 { .. }) => {}
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
    let missing = ObjectId::from_bytes([0xee; 16]);
    match token.hmac_verify(&missing, HmacDigest::Sha256, b"x", &[0; 32]) {
        Err(TokenError::ObjectNotFound(_)) => {}
        other => panic!("expected ObjectNotFound, got {other:?}"),
    }
    Ok(())
});
