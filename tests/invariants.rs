//! The security invariants of docs/ARCHITECTURE.md, each checked from outside the code that
//! keeps it: the token is asked directly, the data directory is read byte by byte, the log is
//! captured whole.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../crates/lockbox/tests/common/root.rs"]
mod root;
use root::Root;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lockbox::api::*;
use lockbox::token::ObjectId;
use lockbox::{Config, Engine};
use lockbox_token::testing::TestToken;
use lockbox_token::testing::cryptoki::mechanism::Mechanism;
use lockbox_token::testing::cryptoki::object::{Attribute, AttributeInfo, AttributeType};
use lockbox_token::token_test;

fn engine(t: &TestToken) -> Root {
    Root(Engine::open(Config::new(t.dir().join("data"), t.config())).unwrap())
}

token_test!(
/// Invariant 1: CMK material is born in the token with every security attribute set, and
/// never leaves it: the token refuses CKA_VALUE and refuses to wrap it out.
fn cmk_material_is_born_and_stays_in_the_token(t) {
    cmk_material_in_the_token(t, false)
});

token_test!(
/// Invariant 1 with `session_copies` on: the same, but MODIFIABLE and COPYABLE (so the token
/// can make a session copy), and the session copy the engine makes is no more readable.
fn cmk_material_with_session_copies_is_born_and_stays_in_the_token(t) {
    cmk_material_in_the_token(t, true)
});

fn cmk_material_in_the_token(t: &TestToken, copies: bool) -> lockbox_token::testing::TestResult {
    let mut config = Config::new(t.dir().join("data"), t.config());
    config.token.session_copies = copies;
    let kms = Root(Engine::open(config).unwrap());
    let ids: Vec<KeyId> = (0..3)
        .map(|_| {
            kms.create_key(CreateKeyRequest::new())
                .unwrap()
                .key_metadata
                .key_id
        })
        .collect();
    let s = t.raw_session()?;
    let wrapper = s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::ValueLen(32.into()),
            Attribute::Token(false),
            Attribute::Wrap(true),
        ],
    )?;
    let objects = kms.key_objects()?;
    assert_eq!(
        objects.len(),
        ids.len(),
        "one token object per key, no copies"
    );
    for id in &ids {
        let object = objects
            .iter()
            .find(|o| o.label == format!("lockbox/{id}/1"))
            .unwrap_or_else(|| panic!("no material object for key {id}"));
        let handles = s.find_objects(&[Attribute::Id(object.id.as_bytes().to_vec())])?;
        assert_eq!(handles.len(), 1);
        let h = handles[0];
        // C_GetAttributeValue with no buffer, as a caller asks before reading: refused.
        let info = s.get_attribute_info(h, &[AttributeType::Value])?;
        assert!(
            matches!(info[0], AttributeInfo::Sensitive),
            "CKA_VALUE of {id}: {:?}",
            info[0]
        );
        let want = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::AlwaysSensitive(true),
            Attribute::NeverExtractable(true),
            Attribute::Modifiable(copies),
            Attribute::Copyable(copies),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
        ];
        let types: Vec<_> = want.iter().map(Attribute::attribute_type).collect();
        let got = s.get_attributes(h, &types)?;
        assert_eq!(got, want, "attributes of {id}");
        assert!(
            s.wrap_key(&Mechanism::AesKeyWrapPad, wrapper, h).is_err(),
            "{id} wrapped out"
        );
        assert!(
            s.wrap_key(&Mechanism::AesKeyWrap, wrapper, h).is_err(),
            "{id} wrapped out"
        );
        // The engine's own report agrees.
        let report = kms
            .token()
            .inspect(&ObjectId::from_bytes(*object.id.as_bytes()))?;
        assert_eq!(report.value, lockbox::token::ValueAccess::Sensitive);
        // Two uses: with copies on, the second makes the session copy.
        for _ in 0..2 {
            kms.encrypt(EncryptRequest::new(*id, Plaintext::copy_from(b"x")))?;
        }
        let copy = s.find_objects(&[
            Attribute::Token(false),
            Attribute::Id(object.id.as_bytes().to_vec()),
        ])?;
        assert_eq!(copy.len(), usize::from(copies), "session copies of {id}");
        for c in copy {
            let info = s.get_attribute_info(c, &[AttributeType::Value])?;
            assert!(
                matches!(info[0], AttributeInfo::Sensitive),
                "copy of {id}: {:?}",
                info[0]
            );
            let got =
                s.get_attributes(c, &[AttributeType::Sensitive, AttributeType::Extractable])?;
            assert_eq!(
                got,
                [Attribute::Sensitive(true), Attribute::Extractable(false)]
            );
            assert!(
                s.wrap_key(&Mechanism::AesKeyWrapPad, wrapper, c).is_err(),
                "copy wrapped out"
            );
        }
    }
    Ok(())
}

token_test!(
/// Invariant 1 for key pairs: the private half is a sensitive, never-extractable token object
/// with only the usages its KeyUsage needs, whose secret attributes the token refuses
/// (asked with C_GetAttributeInfo) and which cannot be wrapped out; the public half is a
/// token object too, with its public usage only.
fn key_pair_private_halves_are_born_and_stay_in_the_token(t) {
    use lockbox_token::testing::cryptoki::object::ObjectClass;
    let kms = engine(t);
    let s = t.raw_session()?;
    let wrapper = s.generate_key(&Mechanism::AesKeyGen, &[
        Attribute::ValueLen(32.into()), Attribute::Token(false), Attribute::Wrap(true),
    ])?;
    // (spec, usage, the private half's one usage, the public half's, the secret attribute)
    let cases = [
        (KeySpec::Rsa2048, KeyUsage::SignVerify, AttributeType::Sign, Some(AttributeType::Verify), AttributeType::PrivateExponent),
        (KeySpec::Rsa3072, KeyUsage::EncryptDecrypt, AttributeType::Decrypt, Some(AttributeType::Encrypt), AttributeType::PrivateExponent),
        (KeySpec::EccNistP256, KeyUsage::SignVerify, AttributeType::Sign, Some(AttributeType::Verify), AttributeType::Value),
        (KeySpec::EccSecgP256k1, KeyUsage::SignVerify, AttributeType::Sign, Some(AttributeType::Verify), AttributeType::Value),
        (KeySpec::EccNistP384, KeyUsage::KeyAgreement, AttributeType::Derive, None, AttributeType::Value),
    ];
    for (spec, usage, private_usage, public_usage, secret) in cases {
        let id = kms.create_key(CreateKeyRequest::new().with_key_spec(spec).with_key_usage(usage))?
            .key_metadata.key_id;
        let halves = s.find_objects(&[Attribute::Label(format!("lockbox/{id}/1").into_bytes())])?;
        assert_eq!(halves.len(), 2, "{spec}: a private and a public object");
        for h in halves {
            let class = match s.get_attributes(h, &[AttributeType::Class])?.as_slice() {
                [Attribute::Class(c)] => *c,
                other => panic!("{other:?}"),
            };
            if class == ObjectClass::PRIVATE_KEY {
                let info = s.get_attribute_info(h, &[secret])?;
                assert!(matches!(info[0], AttributeInfo::Sensitive), "{spec} {secret:?}: {:?}", info[0]);
                let mut want = vec![
                    Attribute::Token(true), Attribute::Private(true), Attribute::Sensitive(true),
                    Attribute::Extractable(false), Attribute::AlwaysSensitive(true),
                    Attribute::NeverExtractable(true), Attribute::Modifiable(false),
                    Attribute::Copyable(false),
                ];
                for u in [AttributeType::Decrypt, AttributeType::Sign, AttributeType::SignRecover,
                          AttributeType::Unwrap, AttributeType::Derive] {
                    want.push(bool_attribute(u, u == private_usage));
                }
                let types: Vec<_> = want.iter().map(Attribute::attribute_type).collect();
                assert_eq!(s.get_attributes(h, &types)?, want, "private half of {spec} {usage}");
                assert!(s.wrap_key(&Mechanism::AesKeyWrapPad, wrapper, h).is_err(), "{spec} wrapped out");
            } else {
                assert_eq!(class, ObjectClass::PUBLIC_KEY, "{spec}");
                let mut want = vec![Attribute::Token(true)];
                for u in [AttributeType::Encrypt, AttributeType::Verify, AttributeType::VerifyRecover,
                          AttributeType::Wrap, AttributeType::Derive] {
                    want.push(bool_attribute(u, Some(u) == public_usage));
                }
                let types: Vec<_> = want.iter().map(Attribute::attribute_type).collect();
                assert_eq!(s.get_attributes(h, &types)?, want, "public half of {spec} {usage}");
            }
        }
    }
    Ok(())
});

fn bool_attribute(t: AttributeType, v: bool) -> Attribute {
    match t {
        AttributeType::Encrypt => Attribute::Encrypt(v),
        AttributeType::Decrypt => Attribute::Decrypt(v),
        AttributeType::Sign => Attribute::Sign(v),
        AttributeType::SignRecover => Attribute::SignRecover(v),
        AttributeType::Verify => Attribute::Verify(v),
        AttributeType::VerifyRecover => Attribute::VerifyRecover(v),
        AttributeType::Wrap => Attribute::Wrap(v),
        AttributeType::Unwrap => Attribute::Unwrap(v),
        AttributeType::Derive => Attribute::Derive(v),
        other => panic!("not a usage: {other:?}"),
    }
}

token_test!(
/// Invariant 1 as a second PKCS#11 client sees it: OpenSC's pkcs11-tool lists every private
/// and secret key object on the token (key pairs of each kind, an HMAC key, the audit key)
/// as sensitive and never extractable. The PIN reaches it through its environment
/// (`--pin env:VAR`), never argv.
fn pkcs11_tool_shows_every_private_and_secret_key_sensitive_and_never_extractable(t) {
    let kms = engine(t);
    for (spec, usage) in [
        (KeySpec::Rsa2048, KeyUsage::SignVerify),
        (KeySpec::Rsa2048, KeyUsage::EncryptDecrypt),
        (KeySpec::EccNistP256, KeyUsage::SignVerify),
        (KeySpec::EccNistP521, KeyUsage::KeyAgreement),
        (KeySpec::Hmac384, KeyUsage::GenerateVerifyMac),
    ] {
        kms.create_key(CreateKeyRequest::new().with_key_spec(spec).with_key_usage(usage))?;
    }
    kms.create_key(CreateKeyRequest::new())?;
    let config = t.config();
    let pin = lockbox_token::Pin::read(&config.pin)?;
    let out = std::process::Command::new("pkcs11-tool")
        .arg("--module").arg(&config.module)
        .args(["--token-label", lockbox_token::testing::TEST_TOKEN_LABEL, "--login",
               "--pin", "env:LOCKBOX_TEST_PKCS11_TOOL_PIN", "--list-objects"])
        .env("LOCKBOX_TEST_PKCS11_TOOL_PIN", pin.expose_secret())
        .output()
        .map_err(|e| format!("pkcs11-tool (OpenSC; apt-get install opensc): {e}"))?;
    let text = String::from_utf8(out.stdout)?;
    assert!(out.status.success(), "pkcs11-tool failed: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    // Objects are blocks: a header line ("Private Key Object; RSA", "Secret Key Object; ...")
    // and indented attribute lines ("  Access:     sensitive, always sensitive, ...").
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            if let Some(b) = blocks.last_mut() { b.push(line.trim()); }
        } else {
            blocks.push(vec![line.trim()]);
        }
    }
    let (mut private, mut secret) = (0, 0);
    for b in &blocks {
        let header = b[0];
        if !(header.starts_with("Private Key Object") || header.starts_with("Secret Key Object")) {
            continue;
        }
        if header.starts_with("Private") { private += 1 } else { secret += 1 }
        let access = b.iter().find_map(|l| l.strip_prefix("Access:"))
            .unwrap_or_else(|| panic!("no Access line for {b:?}"));
        let flags: Vec<&str> = access.split(',').map(str::trim).collect();
        assert!(flags.contains(&"sensitive") && flags.contains(&"always sensitive")
                && flags.contains(&"never extractable") && !flags.contains(&"extractable"),
                "{b:?}");
    }
    // Four key pairs; the HMAC key, the AES key and the audit log's HMAC key.
    assert_eq!((private, secret), (4, 3), "{text}");
    Ok(())
});

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
        })
        .collect()
}

token_test!(
/// Invariant 2: sled holds metadata only. Every plaintext handed out (data keys of every
/// size, plaintexts given to Encrypt, and the private keys of data key pairs) is searched
/// for in every file the engine and the token wrote.
fn no_file_holds_a_plaintext_data_key(t) {
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    let mut pair_secrets: Vec<Vec<u8>> = Vec::new();
    {
        let kms = engine(t);
        let keys: Vec<KeyId> = (0..3)
            .map(|_| kms.create_key(CreateKeyRequest::new()).unwrap().key_metadata.key_id)
            .collect();
        for (i, key) in keys.iter().cycle().take(60).enumerate() {
            let size = [DataKeySize::Spec(DataKeySpec::Aes128), DataKeySize::Spec(DataKeySpec::Aes256), DataKeySize::from_parts(Some(64), None)?][i % 3];
            let ctx = EncryptionContext::from_pairs([("n", i.to_string())])?;
            let dk = kms.generate_data_key(GenerateDataKeyRequest::new(*key, size).with_encryption_context(ctx.clone()))?;
            secrets.push(dk.plaintext.expose_secret().to_vec());
            kms.decrypt(DecryptRequest::new(dk.ciphertext_blob).with_encryption_context(ctx))?;
            let r = kms.generate_random(GenerateRandomRequest::new(NumberOfBytes::new(24)?))?;
            kms.encrypt(EncryptRequest::new(*key, Plaintext::copy_from(r.plaintext.expose_secret())))?;
            secrets.push(r.plaintext.expose_secret().to_vec());
        }
        kms.tag_resource(TagResourceRequest::new(keys[0], vec![Tag::new("k", "v")?]))?;
        // Data key pairs: their private keys (PKCS#8) were generated by the token as session
        // objects and handed out; neither the whole PKCS#8 nor any 16-byte piece of it past
        // the common header (private scalars, exponents, primes) may be in any file.
        for (i, spec) in [DataKeyPairSpec::Rsa2048, DataKeyPairSpec::EccNistP256, DataKeyPairSpec::EccNistP521, DataKeyPairSpec::EccSecgP256k1].into_iter().enumerate() {
            let ctx = EncryptionContext::from_pairs([("pair", i.to_string())])?;
            let p = kms.generate_data_key_pair(GenerateDataKeyPairRequest::new(keys[i % 3], spec).with_encryption_context(ctx.clone()))?;
            let pkcs8 = p.private_key_plaintext.expose_secret().to_vec();
            pair_secrets.extend(pkcs8[36..].chunks_exact(16).map(<[u8]>::to_vec));
            pair_secrets.push(pkcs8);
            let w = kms.generate_data_key_pair_without_plaintext(GenerateDataKeyPairRequest::new(keys[i % 3], spec).with_encryption_context(ctx.clone()))?;
            let pkcs8 = kms.decrypt(DecryptRequest::new(w.private_key_ciphertext_blob).with_encryption_context(ctx))?.plaintext.expose_secret().to_vec();
            pair_secrets.extend(pkcs8[36..].chunks_exact(16).map(<[u8]>::to_vec));
            pair_secrets.push(pkcs8);
        }
    }
    assert!(files_under(t.dir()).len() >= 8, "expected the store's and the token's files");
    for secret in &secrets {
        assert_eq!(files_containing(t.dir(), secret), Vec::<PathBuf>::new());
    }
    assert!(pair_secrets.len() > 8 * 4);
    for secret in &pair_secrets {
        assert_eq!(files_containing(t.dir(), secret), Vec::<PathBuf>::new(), "a piece of a data key pair's private key");
    }
    // The search itself works: a planted secret is found.
    let planted = t.dir().join("data").join("metadata").join("planted");
    std::fs::write(&planted, [b"xx".as_slice(), &secrets[7], b"yy"].concat())?;
    assert_eq!(files_containing(t.dir(), &secrets[7]), vec![planted]);
    Ok(())
});

/// A writer that appends to a shared buffer, for capturing the log.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

token_test!(
/// Invariant 7: secrets do not reach the log. Everything is logged at TRACE while keys are
/// made, used and misused and the token faults and recovers; neither the PIN nor any
/// plaintext appears, in any encoding.
fn no_secret_reaches_the_log(t) {
    let capture = Capture::default();
    let sink = capture.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || sink.clone())
            .finish(),
    )?;
    let kms = engine(t);
    let key = kms.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
    let secret = b"TOP-SECRET-PLAINTEXT-0123456789";
    let blob = kms.encrypt(EncryptRequest::new(key, Plaintext::copy_from(secret)))?.ciphertext_blob;
    let dk = kms.generate_data_key(GenerateDataKeyRequest::new(key, DataKeySpec::Aes256))?;
    let mut bad = blob.clone();
    bad[40] ^= 1;
    assert!(kms.decrypt(DecryptRequest::new(bad)).is_err());
    kms.token().inject_close_all_sessions()?;
    kms.decrypt(DecryptRequest::new(blob))?;
    assert_eq!(kms.token().recoveries(), 1);
    drop(kms);
    // A wrong PIN, too.
    let bad_pin = t.dir().join("bad.pin");
    lockbox_token::softhsm::write_private(&bad_pin, b"WRONG-PIN-0000")?;
    let mut cfg = t.config();
    cfg.pin = lockbox_token::PinSource::File(bad_pin);
    assert!(Engine::open(Config::new(t.dir().join("data2"), cfg)).is_err());

    let log = String::from_utf8(capture.0.lock().unwrap().clone())?;
    assert!(log.contains("recovering once"), "the log captured nothing useful:\n{log}");
    let pin = std::fs::read_to_string(t.dir().join("user.pin"))?;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    for needle in [
        pin.trim().to_owned(),
        "WRONG-PIN-0000".to_owned(),
        String::from_utf8_lossy(secret).into_owned(),
        hex(secret),
        hex(dk.plaintext.expose_secret()),
        format!("{:?}", dk.plaintext.expose_secret()),
    ] {
        assert!(!log.contains(&needle), "the log contains a secret ({needle}):\n{log}");
    }
    Ok(())
});

token_test!(
    /// docs/formats/ciphertext-blob.md's worked example, decrypted by the engine.
    fn the_documented_example_decrypts(t) {
        use lockbox::api::{KeyId, KeySpec, KeyState, KeyUsage, Origin, Timestamp};
        use lockbox_store::{KeyRecord, Material, Revision, Store};
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
        };
        // The documented key material, as a token object under the Lockbox prefix.
        let object_id = [0x42u8; 16];
        t.import_known_aes_key(
            &(0u8..32).collect::<Vec<_>>(),
            object_id,
            "lockbox/11111111-2222-4333-8444-555555555555/1",
        )?;
        let key = KeyId::parse("11111111-2222-4333-8444-555555555555")?;
        let data = t.dir().join("data");
        Store::open(&data.join("metadata"))?.put_key(&KeyRecord {
            id: key,
            created: Timestamp::from_unix_millis(0),
            description: String::new(),
            spec: KeySpec::SymmetricDefault,
            usage: KeyUsage::EncryptDecrypt,
            origin: Origin::AwsKms,
            state: KeyState::Enabled,
            deletion: None,
            materials: vec![Material { version: 1, object_id, public_object_id: None, created: Timestamp::from_unix_millis(0), rotation: None, encryptions_reserved: 0 }],
            tags: vec![],
            auto_rotation: None,
            on_demand_rotations: 0,
            account: "000000000000".into(),
            policy: None,
            imports: None,
            // As a record from before Regions: the engine gives it the configured Region.
            region: String::new(),
            family: None,
            revision: Revision::NEW,
        })?;
        let kms = Root(Engine::open(Config::new(data, t.config()))?);
        let blob = hex("01111111112222433384445555555555550000000101000102030405060708090a0b2f67ba77aa412f4cd8c11e77ab17b314d1e26d8742");
        let ctx = EncryptionContext::from_pairs([("tenant", "a"), ("purpose", "example")])?;
        let out = kms.decrypt(DecryptRequest::new(blob).with_encryption_context(ctx))?;
        assert_eq!(out.plaintext.expose_secret(), b"hello");
        assert_eq!(out.key_id.key_id(), key);
        Ok(())
    }
);

token_test!(
    /// Invariant 5: data keys come from the token's RNG. Every byte of a data key (and of
    /// GenerateRandom) is drawn from the token, besides the IV of its encryption; Encrypt
    /// draws only its IV. Were the engine to make data keys any other way, the counts differ.
    fn data_keys_come_from_the_tokens_generator(t) {
        let kms = engine(t);
        let key = kms.create_key(CreateKeyRequest::new())?.key_metadata.key_id;
        let drawn = || kms.token().random_bytes_drawn();
        for n in [1, 32, 1024] {
            let before = drawn();
            kms.generate_data_key(GenerateDataKeyRequest::new(key, DataKeySize::from_parts(Some(n), None)?))?;
            assert_eq!(drawn() - before, n as u64 + 12, "GenerateDataKey of {n} bytes");
            let before = drawn();
            kms.generate_data_key_without_plaintext(GenerateDataKeyRequest::new(key, DataKeySize::from_parts(Some(n), None)?))?;
            assert_eq!(drawn() - before, n as u64 + 12, "GenerateDataKeyWithoutPlaintext of {n} bytes");
            let before = drawn();
            kms.generate_random(GenerateRandomRequest::new(NumberOfBytes::new(n)?))?;
            assert_eq!(drawn() - before, n as u64, "GenerateRandom of {n} bytes");
        }
        let before = drawn();
        kms.encrypt(EncryptRequest::new(key, Plaintext::copy_from(b"x")))?;
        assert_eq!(drawn() - before, 12, "Encrypt draws its IV only");
        Ok(())
    }
);
