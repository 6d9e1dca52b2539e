//! An appliance that embeds Lockbox: it keeps its master key in a PKCS#11 token and protects
//! its secrets with it, in-process, with no server.
//!
//! ```text
//! cargo run -p lockbox --example appliance [-- DATA_DIR]
//! ```
//!
//! With no `lockbox.toml` in DATA_DIR (default `./appliance-data`), the example provisions a
//! SoftHSM token there. To use a real HSM, write DATA_DIR/lockbox.toml naming its module,
//! token and PIN source (see the README); the code below does not change.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::path::PathBuf;

use lockbox::api::*;
use lockbox::{Config, Engine};

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("appliance-data"), PathBuf::from);
    let dir = std::path::absolute(dir)?;

    // Open the engine on the token (provisioning a SoftHSM one on first run).
    let (config, _) = Config::load_or_provision(&dir)?;
    let engine = Engine::open(config)?;
    // Every call is made by a principal: the appliance's firmware acts as one of its own.
    let firmware = Principal::parse("arn:aws:iam::000000000000:role/appliance-firmware")?;
    let kms = engine.client(Caller::new(firmware));

    // The appliance's key, found by alias, created the first time.
    let alias = AliasName::parse("alias/appliance")?;
    let key = match kms.describe_key(DescribeKeyRequest::new(alias.clone())) {
        Ok(found) => found.key_metadata,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let created =
                kms.create_key(CreateKeyRequest::new().with_description("appliance master key"))?;
            kms.create_alias(AliasRequest::new(
                alias.clone(),
                created.key_metadata.key_id,
            ))?;
            created.key_metadata
        }
        Err(e) => return Err(e.into()),
    };
    println!("key {} ({})", key.arn, key.key_state);

    // Protect a small secret directly, bound to what it is for.
    let ctx = EncryptionContext::from_pairs([("appliance", "edge-01"), ("secret", "db-password")])?;
    let sealed = kms.encrypt(
        EncryptRequest::new(
            alias.clone(),
            Plaintext::copy_from(b"correct horse battery staple"),
        )
        .with_encryption_context(ctx.clone()),
    )?;
    let opened = kms.decrypt(
        DecryptRequest::new(sealed.ciphertext_blob.clone()).with_encryption_context(ctx),
    )?;
    assert_eq!(
        opened.plaintext.expose_secret(),
        b"correct horse battery staple"
    );
    println!(
        "secret sealed into {} bytes and opened again",
        sealed.ciphertext_blob.len()
    );

    // For bulk data: a data key from the token, used locally, stored only encrypted.
    let dk = kms.generate_data_key(GenerateDataKeyRequest::new(alias, DataKeySpec::Aes256))?;
    let again = kms.decrypt(DecryptRequest::new(dk.ciphertext_blob.clone()))?;
    assert_eq!(
        again.plaintext.expose_secret(),
        dk.plaintext.expose_secret()
    );
    println!(
        "data key: {} bytes to use, {} bytes to store",
        dk.plaintext.len(),
        dk.ciphertext_blob.len()
    );
    Ok(())
}
