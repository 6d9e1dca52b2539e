//! The AWS Encryption SDK for Python against a Lockbox server: `tests/clients/esdk.py`
//! encrypts and decrypts files (message format v2, framed, committing suites 0x0478 and
//! 0x0578, strict `aws-kms` master key provider) with its data keys from `Server::start` on
//! 127.0.0.1:0 over a throwaway SoftHSM token. Python -> Python round trips through the
//! server prove that what the ESDK asks of KMS (GenerateDataKey, Encrypt, Decrypt with key
//! ARNs and encryption contexts) is what the server answers.
//!
//! The helpers (`py_encrypt`, `py_decrypt`, `Expected`) take files and return what esdk.py
//! read from the message header, so that another writer or reader of the format (Lockbox's
//! envelope library) can be checked against the ESDK with a few more lines.
//!
//! The virtualenv, the skip (`LOCKBOX_SKIP_AWS_CLIENTS=1`, refused under `CI`) and the
//! server with its cleared client environment are in `common/clients.rs`, shared with
//! tests/aws_clients.rs.

#[path = "common/clients.rs"]
mod clients;

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use lockbox::api::{CreateKeyRequest, Kms};
use lockbox_envelope::{DecryptOptions, Decryptor, EncryptOptions, Encryptor, KmsKeyring};
use lockbox_token::testing::{TestResult, TestToken};
use serde_json::Value;

use clients::TestServer;

/// The provider id the ESDK writes for a KMS-encrypted data key.
const AWS_KMS: &str = "aws-kms";
/// The encryption-context key under which signing suites carry their public key.
const PUBLIC_KEY_CONTEXT: &str = "aws-crypto-public-key";
const MIB: usize = 1 << 20;

#[test]
fn esdk_python_round_trips_through_a_fresh_server() {
    clients::run_with_python_clients(
        module_path!(),
        "esdk_python_round_trips_through_a_fresh_server",
        round_trips,
    );
}

fn round_trips(t: &TestToken) -> TestResult {
    let server = TestServer::start(t)?;
    let kms = server
        .engine()
        .client(server.engine().default_caller("test"));
    let key_a = kms.create_key(CreateKeyRequest::new())?.key_metadata.arn;
    let key_b = kms.create_key(CreateKeyRequest::new())?.key_metadata.arn;
    let (a, b) = (key_a.to_string(), key_b.to_string());
    let files = t.dir().join("files");
    fs::create_dir_all(&files)?;

    // Both suites, at frame lengths 128 (the smallest the ESDK for Python writes), 4096 and
    // 1 MiB, with inputs that end mid-frame, on a frame boundary (an empty final frame),
    // an empty input, and ~30 MB.
    let cases: [(u32, usize); 6] = [
        (128, 1000),
        (4096, 3 * 4096 + 17),
        (4096, 2 * 4096),
        (4096, 0),
        (1 << 20, MIB + 1),
        (1 << 20, 30_000_000 + 7),
    ];
    for suite in [Suite::Commit, Suite::CommitEcdsaP384] {
        for (frame_length, len) in cases {
            let name = format!("{}-{frame_length}-{len}", suite.id());
            let plain = files.join(format!("{name}.plain"));
            write_pseudo_random(&plain, len, frame_length.into())?;
            let context = [("purpose", "esdk-python"), ("case", name.as_str())];
            let expected = Expected::new(suite, frame_length, &context, &[&a]);
            let message = files.join(format!("{name}.esdk"));
            let header = py_encrypt(
                &server,
                &[&a],
                suite,
                frame_length,
                &context,
                &plain,
                &message,
            )?
            .map_err(|e| format!("{name}: encrypt: {e}"))?;
            expected.check(&header)?;
            expected.check_prefix(&message)?;
            let decrypted = files.join(format!("{name}.decrypted"));
            let read = py_decrypt(&server, &[&a], &expected, &message, &decrypted)?
                .map_err(|e| format!("{name}: decrypt: {e}"))?;
            // Exactly the header that was written, public key included.
            assert_eq!(read, header, "{name}");
            assert_same_file(&plain, &decrypted)?;
            for path in [plain, message, decrypted] {
                fs::remove_file(path)?;
            }
        }
    }

    // The ESDK for Python refuses to write frames that are not a multiple of 128 bytes (it
    // checks the frame length against the cipher's block size, which `cryptography` gives in
    // bits): frame length 1 can only be written by another ESDK, and read by this one.
    let plain = files.join("frame-1.plain");
    write_pseudo_random(&plain, 100, 1)?;
    let message = files.join("frame-1.esdk");
    let context = [("purpose", "frame length 1")];
    let err = py_encrypt(&server, &[&a], Suite::Commit, 1, &context, &plain, &message)?
        .err()
        .ok_or("the ESDK for Python wrote frame length 1")?;
    assert_eq!(err.exception, "SerializationError", "{err}");
    assert!(
        !message.exists(),
        "a failed encrypt left {}",
        message.display()
    );

    // Two keys: the first makes the data key (GenerateDataKey), the second encrypts it too
    // (Encrypt); either one alone decrypts.
    let plain = files.join("two-keys.plain");
    write_pseudo_random(&plain, 10_000, 3)?;
    let context = [("purpose", "two keys")];
    for suite in [Suite::Commit, Suite::CommitEcdsaP384] {
        let message = files.join("two-keys.esdk");
        let expected = Expected::new(suite, 4096, &context, &[&a, &b]);
        let header = py_encrypt(&server, &[&a, &b], suite, 4096, &context, &plain, &message)?
            .map_err(|e| format!("two keys: encrypt: {e}"))?;
        expected.check(&header)?;
        for key in [&a, &b] {
            let decrypted = files.join("two-keys.decrypted");
            let read = py_decrypt(&server, &[key], &expected, &message, &decrypted)?
                .map_err(|e| format!("two keys: decrypt with {key}: {e}"))?;
            assert_eq!(read, header);
            assert_same_file(&plain, &decrypted)?;
        }
    }

    // Encrypted under A only: a provider that knows only B finds no data key it may decrypt,
    // and writes nothing.
    let message = files.join("a-only.esdk");
    let expected = Expected::new(Suite::CommitEcdsaP384, 4096, &context, &[&a]);
    py_encrypt(
        &server,
        &[&a],
        Suite::CommitEcdsaP384,
        4096,
        &context,
        &plain,
        &message,
    )?
    .map_err(|e| format!("a only: encrypt: {e}"))?;
    let decrypted = files.join("a-only.decrypted");
    let err = py_decrypt(&server, &[&b], &expected, &message, &decrypted)?
        .err()
        .ok_or("decrypting with the wrong key succeeded")?;
    assert_eq!(err.exception, "DecryptKeyError", "{err}");
    assert_eq!(err.status, Some(1), "{err}");
    assert!(
        !decrypted.exists(),
        "a failed decrypt left {}",
        decrypted.display()
    );

    // The right key, but a context pair the message does not have.
    let mut wrong = expected.clone();
    wrong
        .context
        .insert("purpose".into(), "something else".into());
    let err = py_decrypt(&server, &[&a], &wrong, &message, &decrypted)?
        .err()
        .ok_or("a decrypt expecting another context succeeded")?;
    assert_eq!(err.exception, "ContextMismatch", "{err}");
    assert!(
        !decrypted.exists(),
        "a failed decrypt left {}",
        decrypted.display()
    );

    server.stop()
}

#[test]
fn lockbox_envelope_and_the_esdk_read_each_other() {
    clients::run_with_python_clients(
        module_path!(),
        "lockbox_envelope_and_the_esdk_read_each_other",
        each_other,
    );
}

/// Lockbox's envelope library (over `RemoteKms`, so through the same server) writes what the
/// ESDK for Python reads, and reads what it writes: both suites, frame lengths from 1 to
/// 1 MiB, empty input, exact multiples of the frame length, ~30 MB streamed, two keys.
fn each_other(t: &TestToken) -> TestResult {
    let server = TestServer::start(t)?;
    let kms = server
        .engine()
        .client(server.engine().default_caller("test"));
    let a = kms
        .create_key(CreateKeyRequest::new())?
        .key_metadata
        .arn
        .to_string();
    let b = kms
        .create_key(CreateKeyRequest::new())?
        .key_metadata
        .arn
        .to_string();
    let remote: Arc<dyn Kms> = Arc::new(server.remote_kms()?);
    let only_a = KmsKeyring::new(Arc::clone(&remote), std::slice::from_ref(&a))?;
    let files = t.dir().join("files");
    fs::create_dir_all(&files)?;

    // Python writes only multiples of 128 bytes; Lockbox any frame length.
    let lockbox_writes: [(u32, usize); 7] = [
        (1, 100),
        (7, 1000),
        (128, 1000),
        (4096, 2 * 4096),
        (4096, 0),
        (1 << 20, MIB + 1),
        (1 << 20, 30_000_000 + 7),
    ];
    let python_writes: [(u32, usize); 5] = [
        (128, 1000),
        (4096, 2 * 4096),
        (4096, 0),
        (1 << 20, MIB + 1),
        (1 << 20, 30_000_000 + 7),
    ];
    for suite in [Suite::Commit, Suite::CommitEcdsaP384] {
        for (frame_length, len) in lockbox_writes {
            let name = format!("lockbox-{}-{frame_length}-{len}", suite.id());
            let plain = files.join(format!("{name}.plain"));
            write_pseudo_random(&plain, len, u64::from(frame_length) + 1)?;
            let context = [("purpose", "lockbox writes"), ("case", name.as_str())];
            let expected = Expected::new(suite, frame_length, &context, &[&a]);
            let message = files.join(format!("{name}.msg"));
            lockbox_encrypt(&only_a, suite, frame_length, &context, &plain, &message)?;
            expected.check_prefix(&message)?;
            let decrypted = files.join(format!("{name}.decrypted"));
            let header = py_decrypt(&server, &[&a], &expected, &message, &decrypted)?
                .map_err(|e| format!("{name}: the ESDK could not decrypt: {e}"))?;
            expected.check(&header)?;
            assert_same_file(&plain, &decrypted)?;
            for path in [plain, message, decrypted] {
                fs::remove_file(path)?;
            }
        }
        for (frame_length, len) in python_writes {
            let name = format!("esdk-{}-{frame_length}-{len}", suite.id());
            let plain = files.join(format!("{name}.plain"));
            write_pseudo_random(&plain, len, u64::from(frame_length) + 2)?;
            let context = [("purpose", "the ESDK writes"), ("case", name.as_str())];
            let message = files.join(format!("{name}.msg"));
            let written = py_encrypt(
                &server,
                &[&a],
                suite,
                frame_length,
                &context,
                &plain,
                &message,
            )?
            .map_err(|e| format!("{name}: encrypt: {e}"))?;
            let decrypted = files.join(format!("{name}.decrypted"));
            let header = lockbox_decrypt(&only_a, &message, &decrypted)?;
            assert_eq!(
                header.suite.id(),
                u16::from_str_radix(suite.id(), 16)?,
                "{name}"
            );
            assert_eq!(header.frame_length, frame_length, "{name}");
            assert_eq!(header.context, written.encryption_context, "{name}");
            assert_same_file(&plain, &decrypted)?;
            for path in [plain, message, decrypted] {
                fs::remove_file(path)?;
            }
        }
    }

    // Two keys each way: every key alone decrypts the other side's message.
    let both = KmsKeyring::new(Arc::clone(&remote), &[a.clone(), b.clone()])?;
    let plain = files.join("two.plain");
    write_pseudo_random(&plain, 10_000, 9)?;
    let context = [("purpose", "two keys")];
    for suite in [Suite::Commit, Suite::CommitEcdsaP384] {
        let ours = files.join("two.lockbox");
        lockbox_encrypt(&both, suite, 4096, &context, &plain, &ours)?;
        let expected = Expected::new(suite, 4096, &context, &[&a, &b]);
        let theirs = files.join("two.esdk");
        py_encrypt(&server, &[&a, &b], suite, 4096, &context, &plain, &theirs)?
            .map_err(|e| format!("two keys: encrypt: {e}"))?;
        for key in [&a, &b] {
            let decrypted = files.join("two.decrypted");
            let header = py_decrypt(&server, &[key.as_str()], &expected, &ours, &decrypted)?
                .map_err(|e| format!("two keys: the ESDK with {key}: {e}"))?;
            expected.check(&header)?;
            assert_same_file(&plain, &decrypted)?;
            let one = KmsKeyring::new(Arc::clone(&remote), std::slice::from_ref(key))?;
            lockbox_decrypt(&one, &theirs, &decrypted)?;
            assert_same_file(&plain, &decrypted)?;
        }
        // A byte of the ESDK's message flipped: Lockbox refuses it and writes nothing.
        let mut bad = fs::read(&theirs)?;
        let at = bad.len() - 200;
        bad[at] ^= 1;
        let tampered = files.join("two.tampered");
        fs::write(&tampered, &bad)?;
        let err = lockbox_envelope::decrypt(&only_a, &bad, &DecryptOptions::default())
            .err()
            .ok_or("a tampered ESDK message decrypted")?;
        assert!(err.is_bad_message(), "{err}");
        // And the ESDK refuses Lockbox's message with a byte flipped.
        let mut bad = fs::read(&ours)?;
        let at = bad.len() / 2;
        bad[at] ^= 1;
        fs::write(&tampered, &bad)?;
        let decrypted = files.join("two.decrypted");
        fs::remove_file(&decrypted).ok();
        let err = py_decrypt(&server, &[&a], &expected, &tampered, &decrypted)?
            .err()
            .ok_or("the ESDK decrypted a tampered Lockbox message")?;
        assert!(!decrypted.exists(), "{err}");
    }
    server.stop()
}

/// Lockbox's envelope library encrypts `input` into `output`, streaming.
fn lockbox_encrypt(
    keyring: &KmsKeyring,
    suite: Suite,
    frame_length: u32,
    context: &[(&str, &str)],
    input: &Path,
    output: &Path,
) -> TestResult {
    let options = EncryptOptions::default()
        .with_suite(suite.ours())
        .with_frame_length(frame_length)
        .with_context(context.iter().copied());
    let mut source = fs::File::open(input)?;
    let len = source.metadata()?.len();
    let mut enc = Encryptor::new(
        keyring,
        &options,
        Some(len),
        BufWriter::new(fs::File::create(output)?),
    )?;
    std::io::copy(&mut source, &mut enc)?;
    enc.finish()?;
    Ok(())
}

/// Lockbox's envelope library decrypts `input` into `output`, streaming; returns the header.
fn lockbox_decrypt(
    keyring: &KmsKeyring,
    input: &Path,
    output: &Path,
) -> Result<lockbox_envelope::Header, Box<dyn Error>> {
    let source = std::io::BufReader::new(fs::File::open(input)?);
    let mut dec = Decryptor::new(keyring, source, &DecryptOptions::default())?;
    let mut sink = BufWriter::new(fs::File::create(output)?);
    std::io::copy(&mut dec, &mut sink)?;
    sink.flush()?;
    if !dec.is_complete() {
        return Err("the message did not end".into());
    }
    Ok(dec.header().clone())
}

/// An ESDK algorithm suite this test covers (both are committing, message format v2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Suite {
    /// 0x0478, AES_256_GCM_HKDF_SHA512_COMMIT_KEY.
    Commit,
    /// 0x0578, AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384.
    CommitEcdsaP384,
}

impl Suite {
    /// The id as esdk.py takes and prints it.
    fn id(self) -> &'static str {
        match self {
            Suite::Commit => "0478",
            Suite::CommitEcdsaP384 => "0578",
        }
    }

    fn ours(self) -> lockbox_envelope::Suite {
        match self {
            Suite::Commit => lockbox_envelope::Suite::Aes256GcmHkdfSha512CommitKey,
            Suite::CommitEcdsaP384 => {
                lockbox_envelope::Suite::Aes256GcmHkdfSha512CommitKeyEcdsaP384
            }
        }
    }

    fn id_bytes(self) -> [u8; 2] {
        match self {
            Suite::Commit => [0x04, 0x78],
            Suite::CommitEcdsaP384 => [0x05, 0x78],
        }
    }

    fn signed(self) -> bool {
        self == Suite::CommitEcdsaP384
    }
}

/// What esdk.py reports of a message header.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    suite: String,
    frame_length: u64,
    encryption_context: BTreeMap<String, String>,
    /// (provider id, key info), sorted.
    encrypted_data_keys: Vec<(String, String)>,
}

impl Header {
    fn from_json(line: &str) -> Result<Header, Box<dyn Error>> {
        let v: Value = serde_json::from_str(line)?;
        let text = |v: &Value| -> Result<String, Box<dyn Error>> {
            Ok(v.as_str()
                .ok_or_else(|| format!("not a string: {v}"))?
                .to_owned())
        };
        let mut encryption_context = BTreeMap::new();
        for (k, val) in v["encryption_context"]
            .as_object()
            .ok_or("no encryption_context")?
        {
            encryption_context.insert(k.clone(), text(val)?);
        }
        let mut encrypted_data_keys = Vec::new();
        for edk in v["encrypted_data_keys"]
            .as_array()
            .ok_or("no encrypted_data_keys")?
        {
            encrypted_data_keys.push((text(&edk["provider_id"])?, text(&edk["key_info"])?));
        }
        Ok(Header {
            suite: text(&v["suite"])?,
            frame_length: v["frame_length"].as_u64().ok_or("no frame_length")?,
            encryption_context,
            encrypted_data_keys,
        })
    }
}

/// What a message must say: its suite, frame length, the caller's encryption context (a
/// signing suite adds its public key) and one `aws-kms` data key per key ARN.
#[derive(Clone, Debug)]
struct Expected {
    suite: Suite,
    frame_length: u32,
    context: BTreeMap<String, String>,
    key_arns: Vec<String>,
}

impl Expected {
    fn new(suite: Suite, frame_length: u32, context: &[(&str, &str)], key_arns: &[&str]) -> Self {
        Expected {
            suite,
            frame_length,
            context: context
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            key_arns: key_arns.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    /// Fails unless `header` is exactly what is expected (the public key's value aside).
    fn check(&self, header: &Header) -> TestResult {
        let mut context = header.encryption_context.clone();
        let public_key = context.remove(PUBLIC_KEY_CONTEXT);
        let mut keys: Vec<(String, String)> = self
            .key_arns
            .iter()
            .map(|arn| (AWS_KMS.to_owned(), arn.clone()))
            .collect();
        keys.sort();
        let ok = header.suite == self.suite.id()
            && header.frame_length == u64::from(self.frame_length)
            && context == self.context
            && public_key.is_some() == self.suite.signed()
            && header.encrypted_data_keys == keys;
        if ok {
            Ok(())
        } else {
            Err(format!("header {header:?} is not the expected {self:?}").into())
        }
    }

    /// Fails unless `message` starts as a v2 message of the expected suite.
    fn check_prefix(&self, message: &Path) -> TestResult {
        let bytes = fs::read(message)?;
        let [hi, lo] = self.suite.id_bytes();
        if bytes.get(..3) != Some(&[0x02, hi, lo][..]) {
            return Err(format!(
                "{} does not start with 02 {hi:02x} {lo:02x}",
                message.display()
            )
            .into());
        }
        Ok(())
    }
}

/// esdk.py exited non-zero: its status and the exception it named.
#[derive(Debug)]
struct EsdkFailure {
    status: Option<i32>,
    exception: String,
    stderr: String,
}

impl fmt::Display for EsdkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "esdk.py exited {:?} with {}: {}",
            self.status, self.exception, self.stderr
        )
    }
}

impl Error for EsdkFailure {}

/// The outer `Result` is the harness's (esdk.py did not run, or said something unreadable);
/// the inner one is the ESDK's.
type Esdk = Result<Result<Header, EsdkFailure>, Box<dyn Error>>;

/// The ESDK for Python encrypts `input` into `output` under `key_arns` (the first generates
/// the data key).
fn py_encrypt(
    server: &TestServer,
    key_arns: &[&str],
    suite: Suite,
    frame_length: u32,
    context: &[(&str, &str)],
    input: &Path,
    output: &Path,
) -> Esdk {
    let mut args = vec!["encrypt".to_owned()];
    push_keys(&mut args, key_arns);
    args.extend([
        "--suite".to_owned(),
        suite.id().to_owned(),
        "--frame-length".to_owned(),
        frame_length.to_string(),
    ]);
    for (k, v) in context {
        args.extend(["--context".to_owned(), format!("{k}={v}")]);
    }
    esdk(server, &args, input, output)
}

/// The ESDK for Python decrypts `input` into `output` with a strict provider over
/// `key_arns`, requiring `expected`'s suite and context pairs.
fn py_decrypt(
    server: &TestServer,
    key_arns: &[&str],
    expected: &Expected,
    input: &Path,
    output: &Path,
) -> Esdk {
    let mut args = vec!["decrypt".to_owned()];
    push_keys(&mut args, key_arns);
    args.extend(["--expect-suite".to_owned(), expected.suite.id().to_owned()]);
    for (k, v) in &expected.context {
        args.extend(["--expect-context".to_owned(), format!("{k}={v}")]);
    }
    esdk(server, &args, input, output)
}

fn push_keys(args: &mut Vec<String>, key_arns: &[&str]) {
    for arn in key_arns {
        args.extend(["--key-arn".to_owned(), (*arn).to_owned()]);
    }
}

/// Runs esdk.py against the server: the endpoint in `AWS_ENDPOINT_URL`, which botocore
/// applies to the clients the ESDK makes, and no retries, so that a server error is not
/// hidden behind a later success.
fn esdk(server: &TestServer, args: &[String], input: &Path, output: &Path) -> Esdk {
    let script: PathBuf = clients::clients_dir().join("esdk.py");
    let out = server
        .command(server.python())
        .arg(&script)
        .args(args)
        .arg("--in")
        .arg(input)
        .arg("--out")
        .arg(output)
        .env("AWS_ENDPOINT_URL", server.endpoint())
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()?;
    let stdout = String::from_utf8(out.stdout)?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        // `esdk.py: <ExceptionName>: <message>`, last line of stderr.
        let exception = stderr
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("esdk.py: "))
            .and_then(|l| l.split(':').next())
            .ok_or_else(|| {
                format!(
                    "esdk.py failed ({}) without naming an exception:\n{stderr}",
                    out.status
                )
            })?
            .to_owned();
        return Ok(Err(EsdkFailure {
            status: out.status.code(),
            exception,
            stderr,
        }));
    }
    let line = stdout.lines().last().ok_or("esdk.py printed no header")?;
    Ok(Ok(Header::from_json(line)?))
}

/// Writes `len` bytes that neither repeat nor compress (xorshift64 from `seed`), through a
/// buffer rather than whole.
fn write_pseudo_random(path: &Path, len: usize, seed: u64) -> TestResult {
    let mut out = BufWriter::new(fs::File::create(path)?);
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ seed;
    let mut left = len;
    while left > 0 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let bytes = state.to_le_bytes();
        let n = left.min(bytes.len());
        out.write_all(&bytes[..n])?;
        left -= n;
    }
    out.flush()?;
    Ok(())
}

/// Fails unless the two files hold the same bytes.
fn assert_same_file(expected: &Path, actual: &Path) -> TestResult {
    let (e, a) = (fs::read(expected)?, fs::read(actual)?);
    if e != a {
        let first = e.iter().zip(&a).position(|(x, y)| x != y);
        return Err(format!(
            "{} ({} bytes) differs from {} ({} bytes), first at {first:?}",
            actual.display(),
            a.len(),
            expected.display(),
            e.len()
        )
        .into());
    }
    Ok(())
}
