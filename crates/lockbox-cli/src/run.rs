//! Parses the command line, opens the engine, runs the command.

use std::sync::Arc;

use clap::error::ErrorKind as ClapKind;

use crate::cli::Command;
use crate::commands::{
    aliases, audit, backup, credentials, crypto, decrypt_file, demo, doctor, encrypt_file, grants,
    import, key_pairs, keys, mac, policies, replicas, rotation, serve, signing, tags, token,
    upkeep,
};
use crate::error::CliError;
use crate::{home, remote, through_server};
use lockbox::api::Kms;

pub(crate) fn run() -> Result<(), CliError> {
    // --generate-cli-skeleton prints and stops; --cli-input-json adds its members as flags.
    let args = match crate::cli_input::prepare()? {
        crate::cli_input::Prepared::Printed => return Ok(()),
        crate::cli_input::Prepared::Args(args) => args,
    };
    let cli = match crate::aws_options::parse(args) {
        Ok((mut cli, operation)) => {
            // --profile, AWS_ENDPOINT_URL[_KMS], --query, --output: before anything runs.
            crate::aws_options::apply(&mut cli, operation)?;
            cli
        }
        Err(e) if matches!(e.kind(), ClapKind::DisplayHelp | ClapKind::DisplayVersion) => {
            let _ = e.print();
            return Ok(());
        }
        Err(e) => {
            let _ = e.print();
            // The AWS CLI's exit code for a command line it cannot parse.
            return Err(CliError::Usage);
        }
    };
    if let Some(endpoint) = &cli.remote.endpoint_url {
        // Lockbox's own commands that make sense remotely: for the server's operators.
        match &cli.command {
            Command::Audit(crate::cli::AuditCommand::Export(a)) => {
                return remote::run_admin(endpoint, &cli.remote, a.output.as_deref());
            }
            Command::Audit(_) | Command::Doctor(_) | Command::KeyUsage(_) | Command::Maintain => {
                return remote::run_admin(endpoint, &cli.remote, None);
            }
            _ => {}
        }
        let kms: Arc<dyn Kms> = Arc::new(remote::connect(endpoint, &cli.remote)?);
        return kms_command(&kms, cli.command);
    }
    let command = match cli.command {
        Command::Demo(a) => return demo::demo(a),
        // Restore needs the directory to itself; backup asks a running server itself; the
        // credentials file needs no engine and no lock, whether a server runs or not.
        c @ (Command::Serve(_)
        | Command::Restore(_)
        | Command::Backup(_)
        | Command::Credentials(_)) => c,
        // A running `lockbox serve` holds the directory: the command goes through it.
        c => match through_server::find(
            &home::data_dir()?,
            home::region(cli.remote.region.as_deref()),
        )? {
            Some(served) => return served_command(&served, c),
            None => c,
        },
    };
    let command = match command {
        // The server opens the engine itself, after checking its own configuration.
        Command::Serve(a) => return serve::serve(a),
        // The audit log needs the token and the store, not an engine.
        Command::Audit(a) => {
            let region = home::region(cli.remote.region.as_deref());
            return audit::audit(&home::data_dir()?, a, region.as_deref());
        }
        // The server's credentials file: no engine, no lock (a server may be running).
        Command::Credentials(a) => return credentials::credentials(&home::data_dir()?, a),
        // A running server holds the directory: backup asks it first, through its socket.
        Command::Backup(a) => return backup::backup(&home::data_dir()?, a),
        // Restore runs where nothing holds the directory, and may find no engine to open.
        Command::Restore(a) => return backup::restore(&home::data_dir()?, a),
        // The doctor looks at the directory before an engine opens (and repairs) it.
        Command::Doctor(a) => return doctor::doctor(&home::data_dir()?, a),
        other => other,
    };
    let engine = Arc::new(home::open_engine(&home::data_dir()?)?);
    let region = home::region(cli.remote.region.as_deref());
    let caller = home::caller(&engine, region.as_deref())?;
    match command {
        Command::InspectToken => token::inspect_token(&engine),
        Command::KeyUsage(a) => rotation::key_usage(&engine, &caller, a),
        Command::Maintain => upkeep::maintain(&engine, true),
        other => kms_command(
            &(Arc::new(engine.shared_client(caller)) as Arc<dyn Kms>),
            other,
        ),
    }
}

/// Runs `command` through the server that holds the data directory: Lockbox's own commands
/// run there, the KMS commands send it their requests.
fn served_command(served: &through_server::Served, command: Command) -> Result<(), CliError> {
    match command {
        Command::Audit(crate::cli::AuditCommand::Export(a)) => {
            served.run_there_to(a.output.as_deref())
        }
        Command::KeyUsage(_)
        | Command::InspectToken
        | Command::Maintain
        | Command::Doctor(_)
        | Command::Audit(_) => served.run_there(),
        other => kms_command(&(Arc::new(served.kms()) as Arc<dyn Kms>), other),
    }
}

/// Runs a KMS command against `kms`, local or remote. Held by `Arc` because encrypt-file
/// and decrypt-file keep it in their keyring.
fn kms_command(shared: &Arc<dyn Kms>, command: Command) -> Result<(), CliError> {
    let kms = &**shared;
    match command {
        Command::Demo(_)
        | Command::Audit(_)
        | Command::Credentials(_)
        | Command::Serve(_)
        | Command::InspectToken
        | Command::KeyUsage(_)
        | Command::Maintain
        | Command::Backup(_)
        | Command::Restore(_)
        | Command::Doctor(_) => Err(CliError::param(
            "--endpoint-url",
            "this command works on the local data directory only, not on a remote endpoint",
        )),
        Command::CreateKey(a) => keys::create_key(kms, a),
        Command::DescribeKey(a) => keys::describe_key(kms, a),
        Command::ListKeys(a) => keys::list_keys(kms, a),
        Command::UpdateKeyDescription(a) => keys::update_key_description(kms, a),
        Command::EnableKey(a) => keys::enable_key(kms, a),
        Command::DisableKey(a) => keys::disable_key(kms, a),
        Command::ScheduleKeyDeletion(a) => keys::schedule_key_deletion(kms, a),
        Command::CancelKeyDeletion(a) => keys::cancel_key_deletion(kms, a),
        Command::EnableKeyRotation(a) => rotation::enable_key_rotation(kms, a),
        Command::DisableKeyRotation(a) => rotation::disable_key_rotation(kms, a),
        Command::GetKeyRotationStatus(a) => rotation::get_key_rotation_status(kms, a),
        Command::RotateKeyOnDemand(a) => rotation::rotate_key_on_demand(kms, a),
        Command::ListKeyRotations(a) => rotation::list_key_rotations(kms, a),
        Command::GetParametersForImport(a) => import::get_parameters_for_import(kms, a),
        Command::ImportKeyMaterial(a) => import::import_key_material(kms, a),
        Command::DeleteImportedKeyMaterial(a) => import::delete_imported_key_material(kms, a),
        Command::ReplicateKey(a) => replicas::replicate_key(kms, a),
        Command::UpdatePrimaryRegion(a) => replicas::update_primary_region(kms, a),
        Command::CreateAlias(a) => aliases::create_alias(kms, a),
        Command::UpdateAlias(a) => aliases::update_alias(kms, a),
        Command::DeleteAlias(a) => aliases::delete_alias(kms, a),
        Command::ListAliases(a) => aliases::list_aliases(kms, a),
        Command::TagResource(a) => tags::tag_resource(kms, a),
        Command::UntagResource(a) => tags::untag_resource(kms, a),
        Command::ListResourceTags(a) => tags::list_resource_tags(kms, a),
        Command::PutKeyPolicy(a) => policies::put_key_policy(kms, a),
        Command::GetKeyPolicy(a) => policies::get_key_policy(kms, a),
        Command::ListKeyPolicies(a) => policies::list_key_policies(kms, a),
        Command::CreateGrant(a) => grants::create_grant(kms, a),
        Command::ListGrants(a) => grants::list_grants(kms, a),
        Command::ListRetirableGrants(a) => grants::list_retirable_grants(kms, a),
        Command::RetireGrant(a) => grants::retire_grant(kms, a),
        Command::RevokeGrant(a) => grants::revoke_grant(kms, a),
        Command::Encrypt(a) => crypto::encrypt(kms, a),
        Command::Decrypt(a) => crypto::decrypt(kms, a),
        Command::ReEncrypt(a) => crypto::re_encrypt(kms, a),
        Command::GenerateDataKey(a) => crypto::generate_data_key(kms, a),
        Command::GenerateDataKeyWithoutPlaintext(a) => {
            crypto::generate_data_key_without_plaintext(kms, a)
        }
        Command::GenerateRandom(a) => crypto::generate_random(kms, a),
        Command::Sign(a) => signing::sign(kms, a),
        Command::Verify(a) => signing::verify(kms, a),
        Command::GetPublicKey(a) => signing::get_public_key(kms, a),
        Command::GenerateMac(a) => mac::generate_mac(kms, a),
        Command::VerifyMac(a) => mac::verify_mac(kms, a),
        Command::GenerateDataKeyPair(a) => key_pairs::generate_data_key_pair(kms, a),
        Command::GenerateDataKeyPairWithoutPlaintext(a) => {
            key_pairs::generate_data_key_pair_without_plaintext(kms, a)
        }
        Command::DeriveSharedSecret(a) => key_pairs::derive_shared_secret(kms, a),
        Command::EncryptFile(a) => encrypt_file::encrypt_file(Arc::clone(shared), a),
        Command::DecryptFile(a) => decrypt_file::decrypt_file(Arc::clone(shared), a),
    }
}
