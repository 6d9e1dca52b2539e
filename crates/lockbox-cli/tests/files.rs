//! `lockbox encrypt-file` and `lockbox decrypt-file`, driven as a user drives them: fresh data
//! directories, real SoftHSM, files in a scratch directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Runs `lockbox` with `home` as its data directory and `cwd` as its working directory,
/// feeding `stdin` to it.
fn lockbox_in(home: &Path, cwd: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(args)
        .current_dir(cwd)
        .env("LOCKBOX_HOME", home)
        .env_remove("SOFTHSM2_CONF")
        .env_remove("LOCKBOX_CALLER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// A successful run: its standard output and standard error.
fn ok(home: &Path, cwd: &Path, args: &[&str]) -> (Vec<u8>, String) {
    ok_with(home, cwd, args, b"")
}

fn ok_with(home: &Path, cwd: &Path, args: &[&str], stdin: &[u8]) -> (Vec<u8>, String) {
    let out = lockbox_in(home, cwd, args, stdin);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "lockbox {args:?} failed: {err}");
    (out.stdout, err)
}

/// A failed run: (exit code, the single stderr line); nothing on standard output.
fn fails(home: &Path, cwd: &Path, args: &[&str]) -> (i32, String) {
    let out = lockbox_in(home, cwd, args, b"");
    assert!(!out.status.success(), "lockbox {args:?} succeeded");
    assert!(
        out.stdout.is_empty(),
        "a failed command printed {:?}",
        out.stdout
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    (out.status.code().unwrap(), err.trim_end().to_owned())
}

/// A fresh data directory with `n` keys; returns their key ids.
fn keys(home: &Path, cwd: &Path, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let (out, _) = ok(home, cwd, &["create-key"]);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Bytes that are not all alike, so a frame of them is distinguishable.
fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn files_round_trip_under_two_keys_and_through_pipes() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let work = tmp.path().join("work");
    std::fs::create_dir(&work)?;
    let k = keys(&home, &work, 2);
    // Three full frames of 4096 and a short final one.
    let plain = data(3 * 4096 + 100, 7);
    std::fs::write(work.join("report.pdf"), &plain)?;

    let (out, err) = ok(
        &home,
        &work,
        &[
            "encrypt-file",
            "--key-id",
            &k[0],
            "--key-id",
            &k[1],
            "--encryption-context",
            "purpose=backup",
            "--encryption-context",
            "team=ops",
            "--frame-length",
            "4096",
            "report.pdf",
        ],
    );
    assert!(out.is_empty());
    assert_eq!(err, "");
    let sealed = work.join("report.pdf.encrypted");
    assert_eq!(mode(&sealed), 0o600);
    let message = std::fs::read(&sealed)?;
    // Format version 2, suite 0x0578 (the default).
    assert_eq!(&message[..3], &[0x02, 0x05, 0x78]);
    assert_eq!(names(&work), ["report.pdf", "report.pdf.encrypted"]);

    // Either key alone decrypts it (strict mode), and so does discovery.
    std::fs::remove_file(work.join("report.pdf"))?;
    ok(
        &home,
        &work,
        &[
            "decrypt-file",
            "--key-id",
            &k[0],
            "--encryption-context",
            "team=ops",
            "report.pdf.encrypted",
        ],
    );
    assert_eq!(std::fs::read(work.join("report.pdf"))?, plain);
    assert_eq!(mode(&work.join("report.pdf")), 0o600);
    ok(
        &home,
        &work,
        &[
            "decrypt-file",
            "--key-id",
            &k[1],
            "-o",
            "by-second",
            "report.pdf.encrypted",
        ],
    );
    assert_eq!(std::fs::read(work.join("by-second"))?, plain);
    ok(
        &home,
        &work,
        &["decrypt-file", "-o", "by-discovery", "report.pdf.encrypted"],
    );
    assert_eq!(std::fs::read(work.join("by-discovery"))?, plain);
    // With the first key disabled, only the second still works.
    ok(&home, &work, &["disable-key", "--key-id", &k[0]]);
    let (code, err) = fails(
        &home,
        &work,
        &[
            "decrypt-file",
            "--key-id",
            &k[0],
            "-o",
            "none",
            "report.pdf.encrypted",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.starts_with(
            "lockbox: decrypt-file report.pdf.encrypted: no encrypted data key could be decrypted: 2 encrypted data key(s) in the message; 1 not from an allowed aws-kms key"
        ),
        "{err}"
    );
    assert!(err.contains("DisabledException"), "{err}");
    assert!(!work.join("none").exists());
    ok(
        &home,
        &work,
        &[
            "decrypt-file",
            "--key-id",
            &k[1],
            "-o",
            "by-second-again",
            "report.pdf.encrypted",
        ],
    );
    assert_eq!(std::fs::read(work.join("by-second-again"))?, plain);

    // Standard input to standard output, both ways, with the unsigned suite.
    let (sealed, _) = ok_with(
        &home,
        &work,
        &[
            "encrypt-file",
            "--key-id",
            &k[1],
            "--algorithm-suite",
            "0478",
            "-o",
            "-",
            "-",
        ],
        b"from a pipe",
    );
    assert_eq!(&sealed[..3], &[0x02, 0x04, 0x78]);
    let (opened, _) = ok_with(&home, &work, &["decrypt-file", "-o", "-", "-"], &sealed);
    assert_eq!(opened, b"from a pipe");
    // Standard input needs an output named.
    let (code, err) = fails(&home, &work, &["encrypt-file", "--key-id", &k[1], "-"]);
    assert_eq!(code, 252);
    assert_eq!(
        err,
        "Error parsing parameter '--output': standard input (-) needs --output FILE, or - for standard output"
    );

    // An existing output is kept without --force, replaced with it.
    std::fs::write(work.join("keep.txt"), b"old")?;
    let (code, err) = fails(
        &home,
        &work,
        &["decrypt-file", "-o", "keep.txt", "report.pdf.encrypted"],
    );
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "lockbox: decrypt-file report.pdf.encrypted: keep.txt exists; give --force to replace it"
    );
    assert_eq!(std::fs::read(work.join("keep.txt"))?, b"old");
    let (code, _) = fails(
        &home,
        &work,
        &[
            "encrypt-file",
            "--key-id",
            &k[1],
            "-o",
            "keep.txt",
            "by-second",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(std::fs::read(work.join("keep.txt"))?, b"old");
    ok(
        &home,
        &work,
        &[
            "decrypt-file",
            "--force",
            "-o",
            "keep.txt",
            "report.pdf.encrypted",
        ],
    );
    assert_eq!(std::fs::read(work.join("keep.txt"))?, plain);
    // A plaintext name is needed: a file without the suffix and no --output is refused.
    let (code, err) = fails(&home, &work, &["decrypt-file", "keep.txt"]);
    assert_eq!(code, 252);
    assert_eq!(
        err,
        "Error parsing parameter '--output': keep.txt does not end with \".encrypted\": give --output to name the plaintext"
    );
    // No temporary file is left anywhere.
    assert!(
        names(&work).iter().all(|n| !n.starts_with(".lockbox-")),
        "{:?}",
        names(&work)
    );
    Ok(())
}

#[test]
fn bad_messages_and_contexts_leave_no_output_and_no_temporary_file() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let work = tmp.path().join("work");
    std::fs::create_dir(&work)?;
    let k = keys(&home, &work, 1);
    let plain = data(10 * 4096, 3);
    std::fs::write(work.join("db.dump"), &plain)?;
    ok(
        &home,
        &work,
        &[
            "encrypt-file",
            "--key-id",
            &k[0],
            "--encryption-context",
            "purpose=backup",
            "--frame-length",
            "4096",
            "-o",
            "db.lbx",
            "db.dump",
        ],
    );
    std::fs::remove_file(work.join("db.dump"))?;
    let before = names(&work);
    assert_eq!(before, ["db.lbx"]);

    // A required pair with another value, or missing: refused, nothing written.
    let (code, err) = fails(
        &home,
        &work,
        &[
            "decrypt-file",
            "--encryption-context",
            "purpose=test",
            "-o",
            "out",
            "db.lbx",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "lockbox: decrypt-file db.lbx: authentication failed: encryption context key \"purpose\" has another value in the message"
    );
    let (code, err) = fails(
        &home,
        &work,
        &[
            "decrypt-file",
            "--encryption-context",
            "owner=me",
            "-o",
            "out",
            "db.lbx",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "lockbox: decrypt-file db.lbx: authentication failed: encryption context key \"owner\" is not in the message"
    );
    assert_eq!(names(&work), before);

    // One byte flipped in the middle of the body: the frame holding it fails, and although
    // the frames before it authenticated, no plaintext is left.
    let mut message = std::fs::read(work.join("db.lbx"))?;
    let middle = message.len() / 2;
    message[middle] ^= 0x01;
    std::fs::write(work.join("tampered.lbx"), &message)?;
    let (code, err) = fails(&home, &work, &["decrypt-file", "-o", "out", "tampered.lbx"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "lockbox: decrypt-file tampered.lbx: authentication failed: frame 5 does not authenticate"
    );
    assert_eq!(names(&work), ["db.lbx", "tampered.lbx"]);

    // Cut short: the signature is missing.
    std::fs::write(
        work.join("short.lbx"),
        &std::fs::read(work.join("db.lbx"))?[..message.len() - 10],
    )?;
    let (code, err) = fails(&home, &work, &["decrypt-file", "-o", "out", "short.lbx"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "lockbox: decrypt-file short.lbx: truncated message: the message ends in its signature"
    );
    assert_eq!(names(&work), ["db.lbx", "short.lbx", "tampered.lbx"]);

    // A message with more encrypted data keys than allowed is refused before any KMS call.
    let (code, err) = fails(
        &home,
        &work,
        &[
            "decrypt-file",
            "--max-encrypted-data-keys",
            "0",
            "-o",
            "out",
            "db.lbx",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.starts_with("lockbox: decrypt-file db.lbx: limit exceeded: "),
        "{err}"
    );
    // So is one with frames longer than the reader will hold.
    let (code, err) = fails(
        &home,
        &work,
        &[
            "decrypt-file",
            "--max-frame-length",
            "1024",
            "-o",
            "out",
            "db.lbx",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "lockbox: decrypt-file db.lbx: limit exceeded: the message's frame length is 4096; this reader accepts at most 1024"
    );

    // Several inputs: the bad one is named, the good one is done, the exit code is 1.
    let plain_dir = tmp.path().join("plain");
    std::fs::create_dir(&plain_dir)?;
    let out = lockbox_in(
        &home,
        &work,
        &[
            "decrypt-file",
            "-o",
            &plain_dir.display().to_string(),
            "--verbose",
            "--suffix",
            ".lbx",
            "db.lbx",
            "tampered.lbx",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr)?;
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert_eq!(
        lines[0],
        "lockbox: decrypt-file tampered.lbx: authentication failed: frame 5 does not authenticate"
    );
    assert_eq!(
        lines[1],
        "lockbox: decrypt-file: 1 file(s) done, 1 failed; data keys from the KMS: 2; from the cache: 0"
    );
    assert_eq!(lines[2], "lockbox: decrypt-file: 1 of 2 file(s) failed");
    assert_eq!(names(&tmp.path().join("plain")), ["db"]);
    assert_eq!(std::fs::read(tmp.path().join("plain/db"))?, plain);
    Ok(())
}

#[test]
fn directories_recursively_with_one_cached_data_key() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("home");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(work.join("logs/2025/01"))?;
    let k = keys(&home, &work, 1);
    for i in 0..20 {
        let dir = if i % 2 == 0 { "logs" } else { "logs/2025/01" };
        std::fs::write(
            work.join(dir).join(format!("f{i:02}.log")),
            data(100 + i, i as u8),
        )?;
    }
    std::os::unix::fs::symlink("/etc/hostname", work.join("logs/link"))?;

    let (_, err) = ok(
        &home,
        &work,
        &[
            "encrypt-file",
            "--key-id",
            &k[0],
            "--recursive",
            "--cache-max-age",
            "60",
            "--verbose",
            "-o",
            "sealed",
            "logs",
        ],
    );
    assert_eq!(
        err.trim_end(),
        "lockbox: encrypt-file: 20 file(s) done, 0 failed; data keys from the KMS: 1; from the cache: 19"
    );
    // The audit log agrees: one GenerateDataKey for the twenty files.
    let (log, _) = ok(&home, &work, &["audit", "export"]);
    let generated = String::from_utf8(log)?
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["eventName"] == "GenerateDataKey")
        .count();
    assert_eq!(generated, 1);
    // The tree is mirrored; the symbolic link is not followed.
    assert_eq!(
        names(&work.join("sealed")).len(),
        11,
        "{:?}",
        names(&work.join("sealed"))
    );
    assert!(work.join("sealed/f00.log.encrypted").is_file());
    assert!(work.join("sealed/2025/01/f01.log.encrypted").is_file());
    assert!(!work.join("sealed/link.encrypted").exists());

    // Without the cache, every file asks the KMS.
    let (_, err) = ok(
        &home,
        &work,
        &[
            "encrypt-file",
            "--key-id",
            &k[0],
            "-r",
            "-v",
            "-o",
            "uncached",
            "logs",
        ],
    );
    assert_eq!(
        err.trim_end(),
        "lockbox: encrypt-file: 20 file(s) done, 0 failed; data keys from the KMS: 20; from the cache: 0"
    );

    // Back, with a decryption cache: one Decrypt for the 20 messages sharing a data key.
    std::fs::write(work.join("sealed/notes.txt"), b"not a message")?;
    let (_, err) = ok(
        &home,
        &work,
        &[
            "decrypt-file",
            "-r",
            "-v",
            "--cache-max-age",
            "60",
            "-o",
            "opened",
            "sealed",
        ],
    );
    assert_eq!(
        err.trim_end(),
        "lockbox: decrypt-file: 20 file(s) done, 0 failed, 1 passed over (name without the suffix); data keys from the KMS: 1; from the cache: 19"
    );
    for i in 0..20 {
        let dir = if i % 2 == 0 { "" } else { "2025/01/" };
        assert_eq!(
            std::fs::read(work.join(format!("opened/{dir}f{i:02}.log")))?,
            data(100 + i, i as u8)
        );
    }
    // Running again refuses every existing output, names each, and changes nothing.
    let out = lockbox_in(
        &home,
        &work,
        &["decrypt-file", "-r", "-o", "opened/2025", "sealed/2025"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr)?;
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 11, "{err}");
    assert_eq!(
        lines[0],
        "lockbox: decrypt-file sealed/2025/01/f01.log.encrypted: opened/2025/01/f01.log exists; give --force to replace it"
    );
    assert_eq!(lines[10], "lockbox: decrypt-file: 10 of 10 file(s) failed");
    assert_eq!(
        std::fs::read(work.join("opened/2025/01/f01.log"))?,
        data(101, 1)
    );
    // A directory needs --recursive.
    let (code, err) = fails(
        &home,
        &work,
        &["encrypt-file", "--key-id", &k[0], "-o", "x", "logs"],
    );
    assert_eq!(code, 252);
    assert_eq!(
        err,
        "Error parsing parameter '--recursive': logs is a directory; give --recursive to take the files below it"
    );
    // The tree written into itself is refused rather than silently done with nothing.
    let (code, err) = fails(
        &home,
        &work,
        &[
            "encrypt-file",
            "--key-id",
            &k[0],
            "-r",
            "-o",
            "logs",
            "logs",
        ],
    );
    assert_eq!(code, 252);
    assert_eq!(
        err,
        "Error parsing parameter '--output': logs is the input directory logs itself; give another directory"
    );
    Ok(())
}

#[test]
fn help_describes_the_file_commands() -> TestResult {
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["decrypt-file", "--help"])
        .output()?;
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        help.contains("To stdout (--output -), plaintext of authenticated frames is written before the end is checked; use a file output for all-or-nothing."),
        "{help}"
    );
    for flag in [
        "--key-id",
        "--encryption-context",
        "--max-encrypted-data-keys",
        "--cache-max-age",
        "--output",
        "--recursive",
        "--force",
        "--suffix",
    ] {
        assert!(help.contains(flag), "decrypt-file --help lacks {flag}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(["encrypt-file", "--help"])
        .output()?;
    let help = String::from_utf8(out.stdout)?;
    for flag in [
        "--algorithm-suite",
        "--frame-length",
        "--cache-max-messages",
        "--cache-max-bytes",
        "--cache-capacity",
        "--quiet",
        "--verbose",
    ] {
        assert!(help.contains(flag), "encrypt-file --help lacks {flag}");
    }
    Ok(())
}

/// Runs `lockbox` with the given standard input and output files; (success, stderr).
fn lockbox_with_files(
    home: &Path,
    cwd: &Path,
    args: &[&str],
    stdin: std::fs::File,
    stdout: std::fs::File,
) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(args)
        .current_dir(cwd)
        .env("LOCKBOX_HOME", home)
        .env_remove("SOFTHSM2_CONF")
        .env_remove("LOCKBOX_CALLER")
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
    )
}

#[test]
fn a_failed_read_or_write_names_its_side() -> TestResult {
    // The library reads and writes on one thread and seals on others, and reports both
    // sides' I/O errors alike; the command still says which side failed.
    let scratch = tempfile::tempdir()?;
    let (home, work) = (scratch.path().join("home"), scratch.path().join("work"));
    std::fs::create_dir_all(&work)?;
    let k = keys(&home, &work, 1);
    let sealed_path = work.join("data.encrypted");
    std::fs::write(work.join("data"), vec![7u8; 3 << 20])?;
    ok(
        &home,
        &work,
        &[
            "encrypt-file",
            "--key-id",
            &k[0],
            "-o",
            "data.encrypted",
            "data",
        ],
    );

    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let input = std::fs::File::open(work.join("data"))?;
    let (success, err) = lockbox_with_files(
        &home,
        &work,
        &["encrypt-file", "--key-id", &k[0], "-o", "-", "-"],
        input,
        full(),
    );
    assert!(!success);
    assert!(
        err.contains("cannot write standard output: No space left on device"),
        "{err}"
    );
    let (success, err) = lockbox_with_files(
        &home,
        &work,
        &["decrypt-file", "-o", "-", "-"],
        std::fs::File::open(&sealed_path)?,
        full(),
    );
    assert!(!success);
    assert!(
        err.contains("cannot write standard output: No space left on device"),
        "{err}"
    );

    // A directory as standard input: every read fails with EISDIR.
    let sink = || std::fs::File::create(scratch.path().join("sink")).unwrap();
    let (success, err) = lockbox_with_files(
        &home,
        &work,
        &["encrypt-file", "--key-id", &k[0], "-o", "-", "-"],
        std::fs::File::open(&work)?,
        sink(),
    );
    assert!(!success);
    assert!(err.contains("cannot read it: Is a directory"), "{err}");
    let (success, err) = lockbox_with_files(
        &home,
        &work,
        &["decrypt-file", "-o", "-", "-"],
        std::fs::File::open(&work)?,
        sink(),
    );
    assert!(!success);
    assert!(err.contains("cannot read it: Is a directory"), "{err}");
    Ok(())
}
