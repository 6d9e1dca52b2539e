//! `lockbox demo`: a short guided run on a freshly provisioned SoftHSM token.

use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use lockbox::api::*;
use lockbox::token::softhsm;
use lockbox::{Config, Engine};

use super::token::value_access;
use crate::cli::DemoArgs;
use crate::error::{CliError, OrKms};

/// Writes a line to standard output; a closed pipe (`lockbox demo | head`) ends the demo
/// with an error instead of a panic.
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*)
            .map_err(|e| CliError::Setup(format!("cannot write output: {e}")))?
    };
}

/// A directory holding this file was made by `lockbox demo` and may be remade by it.
const MARKER: &str = ".made-by-lockbox-demo";
const MESSAGE: &[u8] = b"Hello from Lockbox";

pub(crate) fn demo(a: DemoArgs) -> Result<(), CliError> {
    let dir = std::path::absolute(&a.home)
        .map_err(|e| CliError::Setup(format!("cannot resolve {}: {e}", a.home)))?;
    // First, so that a re-execution (to set SOFTHSM2_CONF) happens before anything is done.
    softhsm::ensure_conf_env(&Config::softhsm_conf_path(&dir)).map_err(lockbox::Error::from)?;
    prepare(&dir)?;

    say!(
        "Lockbox demo: a customer master key in a PKCS#11 token, used the way AWS KMS keys are.\n"
    );
    say!("1. Provisioning {}", dir.display());
    let config = Config::provision_softhsm(&dir)?;
    let engine = Engine::open(config)?;
    let kms = engine.client(engine.default_caller("cli"));
    let d = engine.token().description();
    say!("   A SoftHSM token of its own: softhsm/softhsm2.conf, token files in softhsm/tokens/");
    say!(
        "   Token '{}' ({} {}, serial {}), found by its label, not a slot number",
        d.label,
        d.manufacturer,
        d.model,
        d.serial
    );
    say!(
        "   PINs: generated, stored in token-user.pin and token-so.pin (mode 0600), never printed\n"
    );

    say!("2. CreateKey: the AES-256 key material is generated inside the token");
    let md = kms
        .create_key(CreateKeyRequest::new().with_description("lockbox demo key"))
        .op("CreateKey")?
        .key_metadata;
    let alias = AliasName::parse("alias/demo").op("CreateAlias")?;
    kms.create_alias(AliasRequest::new(alias.clone(), md.key_id))
        .op("CreateAlias")?;
    say!("   KeyId  {}", md.key_id);
    say!("   Arn    {}", md.arn);
    say!("   Alias  {alias}\n");

    say!(
        "3. Encrypt \"{}\" under {alias}, with encryption context purpose=demo",
        String::from_utf8_lossy(MESSAGE)
    );
    let ctx = EncryptionContext::from_pairs([("purpose", "demo")]).op("Encrypt")?;
    let blob = kms
        .encrypt(
            EncryptRequest::new(alias.clone(), Plaintext::copy_from(MESSAGE))
                .with_encryption_context(ctx.clone()),
        )
        .op("Encrypt")?
        .ciphertext_blob;
    describe_blob(&blob)?;
    let back = kms
        .decrypt(DecryptRequest::new(blob.clone()).with_encryption_context(ctx.clone()))
        .op("Decrypt")?;
    say!(
        "   Decrypt with purpose=demo:  \"{}\"",
        String::from_utf8_lossy(back.plaintext.expose_secret())
    );
    let wrong = EncryptionContext::from_pairs([("purpose", "other")]).op("Decrypt")?;
    match kms.decrypt(DecryptRequest::new(blob).with_encryption_context(wrong)) {
        Err(e) => say!(
            "   Decrypt with purpose=other: {} (the context is bound to the ciphertext)\n",
            e.kind()
        ),
        Ok(_) => {
            return Err(CliError::Setup(
                "a wrong encryption context decrypted".into(),
            ));
        }
    }

    say!("4. GenerateDataKey AES_256: 32 bytes from the token's RNG, encrypted by the token");
    let dk = kms
        .generate_data_key(
            GenerateDataKeyRequest::new(alias.clone(), DataKeySpec::Aes256)
                .with_encryption_context(ctx.clone()),
        )
        .op("GenerateDataKey")?;
    say!(
        "   Plaintext data key: {} bytes, for your own bulk encryption (not shown; drop it after use)",
        dk.plaintext.len()
    );
    say!(
        "   Encrypted data key: {} bytes, to store beside your data",
        dk.ciphertext_blob.len()
    );
    let again = kms
        .decrypt(DecryptRequest::new(dk.ciphertext_blob.clone()).with_encryption_context(ctx))
        .op("Decrypt")?;
    let same = again.plaintext.expose_secret() == dk.plaintext.expose_secret();
    say!(
        "   Decrypt(encrypted data key) gives the same 32 bytes: {}\n",
        if same { "yes" } else { "NO" }
    );

    say!("5. What stays in the token");
    let token = engine.token();
    let fail =
        |e: lockbox::token::TokenError| CliError::Setup(format!("inspecting the token: {e}"));
    for o in token.list_objects().map_err(fail)? {
        let r = token.inspect(&o.id).map_err(fail)?;
        say!(
            "   Token object {} (CKA_ID {}): {}, {} bytes{}",
            r.label,
            o.id,
            super::token::key_type_name(&r),
            r.value_len.unwrap_or(0),
            super::token::purpose(&r.label)
                .map(|p| format!(": {p}"))
                .unwrap_or_default()
        );
        say!(
            "     CKA_TOKEN={} CKA_PRIVATE={} CKA_SENSITIVE={} CKA_EXTRACTABLE={} CKA_NEVER_EXTRACTABLE={}",
            r.token,
            r.private,
            r.sensitive,
            r.extractable,
            r.never_extractable
        );
        say!("     usages: {}", r.usages.join(" "));
        say!("     CKA_VALUE: {}", value_access(r.value));
    }
    say!("   The metadata store (metadata/) keeps the key record: state, dates, tags, and the");
    say!("   CKA_ID of its material. No key material, plain or wrapped.");
    let (files, hits) = scan(&dir, dk.plaintext.expose_secret())?;
    say!(
        "   Scanned {files} files under {}: the plaintext data key is in {}.\n",
        dir.display(),
        if hits.is_empty() {
            "none of them".to_owned()
        } else {
            format!("{hits:?}")
        }
    );

    say!("Try more (same commands and flags as `aws kms`):");
    say!("   export LOCKBOX_HOME={}", dir.display());
    say!("   cargo run -q -p lockbox-cli -- describe-key --key-id alias/demo");
    say!(
        "   printf secret > s.txt && cargo run -q -p lockbox-cli -- encrypt --key-id alias/demo --plaintext fileb://s.txt --ciphertext-out s.bin"
    );
    say!(
        "   cargo run -q -p lockbox-cli -- decrypt --ciphertext-blob fileb://s.bin --plaintext-out -"
    );
    say!(
        "Run the demo again to start over; remove {} when done.",
        dir.display()
    );
    if !same || !hits.is_empty() {
        return Err(CliError::Setup("the demo's checks failed".into()));
    }
    Ok(())
}

/// Makes `dir` empty and marked as the demo's, refusing to touch a directory it did not make.
fn prepare(dir: &Path) -> Result<(), CliError> {
    let io =
        |what: &str, e: std::io::Error| CliError::Setup(format!("{what} {}: {e}", dir.display()));
    if dir.exists() {
        let empty = fs::read_dir(dir)
            .map_err(|e| io("cannot list", e))?
            .next()
            .is_none();
        if dir.join(MARKER).exists() {
            fs::remove_dir_all(dir).map_err(|e| io("cannot remove", e))?;
        } else if !empty {
            return Err(CliError::Setup(format!(
                "{} exists and was not made by `lockbox demo`; choose another --home",
                dir.display()
            )));
        }
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io("cannot create", e))?;
    softhsm::write_private(&dir.join(MARKER), b"")
        .map_err(|e| CliError::Setup(format!("cannot mark {}: {e}", dir.display())))
}

fn describe_blob(blob: &[u8]) -> Result<(), CliError> {
    let hex = |b: &[u8]| hex::encode(b);
    let short = |b: &[u8]| {
        let h = hex(b);
        if h.len() > 40 {
            format!("{}...", &h[..40])
        } else {
            h
        }
    };
    use lockbox::blob::{HEADER_LEN, IV_LEN};
    let ct_end = blob.len() - 16;
    say!(
        "   Ciphertext blob, {} bytes (docs/formats/ciphertext-blob.md):",
        blob.len()
    );
    say!("     {:<44} format version", hex(&blob[0..1]));
    say!("     {:<44} key id", hex(&blob[1..17]));
    say!("     {:<44} material version", hex(&blob[17..21]));
    say!("     {:<44} algorithm: AES-256-GCM", hex(&blob[21..22]));
    say!(
        "     {:<44} IV, from the token's RNG",
        hex(&blob[HEADER_LEN..HEADER_LEN + IV_LEN])
    );
    say!(
        "     {:<44} ciphertext",
        short(&blob[HEADER_LEN + IV_LEN..ct_end])
    );
    say!(
        "     {:<44} tag (covers the header and the context)",
        hex(&blob[ct_end..])
    );
    Ok(())
}

/// Counts the files under `dir` and names those containing `needle`.
fn scan(dir: &Path, needle: &[u8]) -> Result<(usize, Vec<PathBuf>), CliError> {
    let mut files = 0;
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = fs::read_dir(&d)
            .map_err(|e| CliError::Setup(format!("cannot list {}: {e}", d.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = fs::read(&path) {
                files += 1;
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(path);
                }
            }
        }
    }
    Ok((files, hits))
}
