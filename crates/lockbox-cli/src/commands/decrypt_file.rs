//! `lockbox decrypt-file`: AWS Encryption SDK messages back to plaintext files.

use std::sync::Arc;
use std::time::Duration;

use lockbox::api::Kms;
use lockbox_envelope::{CacheLimits, DecryptOptions, Decryptor, EnvelopeError, KmsKeyring};

use crate::cli::DecryptFileArgs;
use crate::commands::encrypt_file::keyring_error;
use crate::error::CliError;
use crate::files::{self, Direction, Fault, Stats};

pub(crate) fn decrypt_file(kms: Arc<dyn Kms>, a: DecryptFileArgs) -> Result<(), CliError> {
    let options = DecryptOptions {
        max_encrypted_data_keys: a.max_encrypted_data_keys.unwrap_or(u16::MAX),
        expected_context: files::context_pairs(&a.encryption_context)?,
        max_frame_length: a
            .max_frame_length
            .unwrap_or(lockbox_envelope::MAX_FRAME_LENGTH),
        ..DecryptOptions::default()
    };
    let cache = a
        .cache_max_age
        .map(|secs| CacheLimits::with_max_age(Duration::from_secs(secs)));
    let plan = files::plan(&a.files, Direction::Decrypt)?;
    let keyring = if a.key_ids.is_empty() {
        KmsKeyring::discovery(kms)
    } else {
        KmsKeyring::new(kms, &a.key_ids).map_err(keyring_error)?
    };
    let stats = Stats::new(Arc::new(keyring), cache)?;
    let materials = stats.materials();
    let tally = files::run(
        &plan,
        Direction::Decrypt,
        a.files.force,
        a.files.quiet,
        &mut |_job, input, output| {
            let dec = Decryptor::new(materials, input, &options).map_err(input_fault)?;
            // Reading and writing overlapped with opening (the library's pipelined path);
            // `Ok` only for a whole, verified message.
            let mut output = files::Watched::new(output);
            match dec.decrypt_to(&mut output) {
                Ok(()) => Ok(()),
                Err(EnvelopeError::Io(e)) if output.failed() => Err(Fault::Write(e)),
                Err(e) => Err(input_fault(e)),
            }
        },
    );
    tally.finish(
        Direction::Decrypt,
        plan.passed_over,
        a.files.verbose,
        &stats,
    )
}

/// The decryptor's own I/O errors are the input's.
fn input_fault(e: EnvelopeError) -> Fault {
    match e {
        EnvelopeError::Io(io) => Fault::Read(io),
        other => Fault::Envelope(other),
    }
}
