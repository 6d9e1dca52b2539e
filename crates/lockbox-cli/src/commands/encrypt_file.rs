//! `lockbox encrypt-file`: each input file into one AWS Encryption SDK message.

use std::sync::Arc;
use std::time::Duration;

use lockbox::api::Kms;
use lockbox_envelope::cache::{MAX_BYTES_PER_KEY, MAX_MESSAGES_PER_KEY};
use lockbox_envelope::{CacheLimits, EncryptOptions, Encryptor, EnvelopeError, KmsKeyring, Suite};

use crate::cli::EncryptFileArgs;
use crate::error::CliError;
use crate::files::{self, Direction, Fault, Stats};

pub(crate) fn encrypt_file(kms: Arc<dyn Kms>, a: EncryptFileArgs) -> Result<(), CliError> {
    let suite = Suite::parse(&a.algorithm_suite)
        .map_err(|e| CliError::param("--algorithm-suite", e.to_string()))?;
    if a.frame_length == 0 || a.frame_length > lockbox_envelope::MAX_FRAME_LENGTH {
        return Err(CliError::param(
            "--frame-length",
            format!(
                "{} is outside 1..={}",
                a.frame_length,
                lockbox_envelope::MAX_FRAME_LENGTH
            ),
        ));
    }
    let options = EncryptOptions::default()
        .with_suite(suite)
        .with_frame_length(a.frame_length)
        .with_context(files::context_pairs(&a.encryption_context)?);
    let cache = match a.cache_max_age {
        Some(secs) => Some(CacheLimits {
            max_age: Duration::from_secs(secs),
            max_messages: a.cache_max_messages.unwrap_or(MAX_MESSAGES_PER_KEY),
            max_bytes: a.cache_max_bytes.unwrap_or(MAX_BYTES_PER_KEY),
            capacity: a.cache_capacity.unwrap_or(100),
        }),
        None => None,
    };
    // Refuse a bad command line before asking the KMS anything.
    let plan = files::plan(&a.files, Direction::Encrypt)?;
    let keyring = KmsKeyring::new(kms, &a.key_ids).map_err(keyring_error)?;
    let stats = Stats::new(Arc::new(keyring), cache)?;
    let materials = stats.materials();
    let tally = files::run(
        &plan,
        Direction::Encrypt,
        a.files.force,
        a.files.quiet,
        &mut |job, input, output| {
            let enc =
                Encryptor::new(materials, &options, job.size, output).map_err(output_fault)?;
            // Reading and writing overlapped with sealing (the library's pipelined path).
            let mut input = files::Watched::new(input);
            match enc.encrypt_from(&mut input) {
                Ok(_) => Ok(()),
                Err(EnvelopeError::Io(e)) if input.failed() => Err(Fault::Read(e)),
                Err(e) => Err(output_fault(e)),
            }
        },
    );
    tally.finish(
        Direction::Encrypt,
        plan.passed_over,
        a.files.verbose,
        &stats,
    )
}

/// The encryptor's own I/O errors are the output's.
fn output_fault(e: EnvelopeError) -> Fault {
    match e {
        EnvelopeError::Io(io) => Fault::Write(io),
        other => Fault::Envelope(other),
    }
}

/// Resolving `--key-id`s asks the KMS (DescribeKey); its refusals keep their AWS names.
pub(crate) fn keyring_error(e: EnvelopeError) -> CliError {
    match e {
        EnvelopeError::Kms(error) => CliError::Kms {
            operation: "DescribeKey",
            error,
        },
        other => CliError::param("--key-id", other.to_string()),
    }
}
