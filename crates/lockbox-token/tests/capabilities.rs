//! The capability probe at open, against SoftHSM 2.6.1: what it finds, and what it costs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lockbox_token::{Curve, KeySizes, Mech, Requirement, token_test};

token_test!(fn softhsm_has_every_mechanism_and_curve_lockbox_uses(t) {
    let token = t.open()?;
    let caps = token.capabilities();
    for m in Mech::ALL {
        assert!(caps.has(m), "SoftHSM lists {m}");
    }
    // SoftHSM 2.6.1's RSA key-pair generation: 512..16384 bits.
    let rsa = caps.key_sizes(Mech::RsaKeyPairGen).unwrap();
    assert!(rsa.min <= 2048 && rsa.max >= 4096, "{rsa:?}");
    for bits in [2048, 3072, 4096] {
        assert!(caps.meets(Requirement::RsaModulus(bits)));
    }
    assert!(!caps.meets(Requirement::RsaModulus(rsa.max + 1)));
    for c in [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1] {
        assert!(caps.supports_curve(c), "{c:?}: {:?}", caps.curve_refusal(c));
        assert_eq!(caps.curve_refusal(c), None);
    }
    // The probe leaves nothing on the token: its key pairs were session objects, destroyed.
    assert!(token.list_objects()?.is_empty());
    let raw = t.raw_session()?;
    assert!(raw.find_objects(&[])?.is_empty(), "no object of any kind is left behind");
    // And it is cheap: a few session key pairs and C_GetMechanismInfo calls.
    let took = caps.probe_time();
    eprintln!("capability probe took {took:?}");
    assert!(took.as_millis() < 2000, "{took:?}");
    Ok(())
});

#[test]
fn a_value_without_a_mechanism_or_curve_misses_it_and_names_it() {
    let full = lockbox_token::Capabilities::from_parts(
        Mech::ALL.map(|m| (m, KeySizes { min: 0, max: 0 })),
        [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1],
    );
    let wanted = [
        Requirement::Mechanism(Mech::EcKeyPairGen),
        Requirement::Curve(Curve::Secp256k1),
        Requirement::Mechanism(Mech::Ecdsa),
    ];
    assert_eq!(full.first_missing(&wanted), None);
    let no_k1 = full.clone().without_curve(Curve::Secp256k1);
    assert_eq!(
        no_k1.first_missing(&wanted),
        Some(Requirement::Curve(Curve::Secp256k1))
    );
    assert_eq!(
        Requirement::Curve(Curve::Secp256k1).to_string(),
        "the curve secp256k1 (CKM_EC_KEY_PAIR_GEN)"
    );
    let no_ecdsa = full.clone().without(Mech::Ecdsa);
    assert_eq!(
        no_ecdsa.first_missing(&wanted),
        Some(Requirement::Mechanism(Mech::Ecdsa))
    );
    assert_eq!(Requirement::Mechanism(Mech::Ecdsa).to_string(), "CKM_ECDSA");
    // Without EC key-pair generation no curve is supported.
    let no_ec = full.clone().without(Mech::EcKeyPairGen);
    assert!(!no_ec.supports_curve(Curve::P256));
    assert_eq!(
        no_ec.curve_refusal(Curve::P256),
        Some("CKM_EC_KEY_PAIR_GEN is not listed")
    );
    // RSA modulus sizes are checked against the range the token gives.
    let small = lockbox_token::Capabilities::from_parts(
        [(
            Mech::RsaKeyPairGen,
            KeySizes {
                min: 1024,
                max: 3072,
            },
        )],
        [],
    );
    assert!(small.meets(Requirement::RsaModulus(2048)));
    assert!(small.meets(Requirement::RsaModulus(3072)));
    assert!(!small.meets(Requirement::RsaModulus(4096)));
    assert_eq!(
        Requirement::RsaModulus(4096).to_string(),
        "4096-bit RSA keys (CKM_RSA_PKCS_KEY_PAIR_GEN)"
    );
    assert!(!small.meets(Requirement::Mechanism(Mech::AesGcm)));
}
