//! Several processes on one SoftHSM token, as several Lockbox nodes share one token.
//!
//! SoftHSM keeps state per process, so two `Token`s in one process would share the module's
//! view of the token and prove nothing: the other node here is a child process, this test
//! binary run again for `peer_node`, which opens the same token and answers commands on
//! its standard input.

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use lockbox_token::testing::TestToken;
use lockbox_token::{ObjectId, PinSource, SecretKeyTemplate, TokenConfig, TokenError};

type TestResult = Result<(), Box<dyn Error>>;

// What the peer is told about the token: the module, the SoftHSM configuration, the PIN
// file and label, and how long it waits for an object to appear.
const PEER_MODULE: &str = "LOCKBOX_TEST_PEER_MODULE";
const PEER_CONF: &str = "LOCKBOX_TEST_PEER_CONF";
const PEER_PIN_FILE: &str = "LOCKBOX_TEST_PEER_PIN_FILE";
const PEER_LABEL: &str = "LOCKBOX_TEST_PEER_LABEL";
const PEER_WAIT_MS: &str = "LOCKBOX_TEST_PEER_WAIT_MS";

/// The other node of the tests below, which start it themselves (with `--ignored`).
///
/// Opens the token as a Lockbox process does (`softhsm::root::open_token`), prints
/// `ready`, then answers each line: `use <CKA_ID hex>` encrypts under that key and prints
/// `ok <ms>` or `<error kind> <ms>`; `list` prints how many objects it sees, `recoveries`
/// how many times its token connection recovered from a fault. The mode
/// `open-only` prints `opened <root files restored>` and exits.
#[test]
#[ignore = "the other node of the tests in this file, which start it themselves"]
fn peer_node() {
    if let Err(e) = peer_main() {
        panic!("peer node: {e}");
    }
}

fn peer_main() -> TestResult {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let mut config = TokenConfig::new(
        var(PEER_MODULE)?,
        lockbox_token::TokenSelector::Label(var(PEER_LABEL)?),
        PinSource::File(PathBuf::from(var(PEER_PIN_FILE)?)),
    );
    config.softhsm_conf = Some(PathBuf::from(var(PEER_CONF)?));
    config.replication_wait = Duration::from_millis(var(PEER_WAIT_MS)?.parse()?);
    let opened = lockbox_token::softhsm::root::open_token(&config)?;
    let mut out = std::io::stdout().lock();
    if std::env::args().any(|a| a == "open-only") {
        writeln!(out, "opened {}", opened.restored.len())?;
        return Ok(());
    }
    let token = opened.token;
    writeln!(out, "ready")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let started = Instant::now();
        let answer = match line.split_once(' ') {
            Some(("use", hex)) => {
                let bytes: [u8; 16] = hex::decode(hex)?.try_into().map_err(|_| "not 16 bytes")?;
                let mut sealed = [0u8; 1 + 16];
                match token.encrypt_aes_gcm(&ObjectId::from_bytes(bytes), b"", b"x", &mut sealed) {
                    Ok(_) => "ok".to_owned(),
                    Err(TokenError::ObjectNotFound(_)) => "ObjectNotFound".to_owned(),
                    Err(e) => format!("{e:?}").replace(' ', "_"),
                }
            }
            _ if line == "list" => token.list_objects()?.len().to_string(),
            _ if line == "recoveries" => token.recoveries().to_string(),
            _ => return Err(format!("unknown command {line:?}").into()),
        };
        writeln!(out, "{answer} {}", started.elapsed().as_millis())?;
        out.flush()?;
    }
    Ok(())
}

/// A running peer node.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn command(t: &TestToken, wait: Duration) -> Result<Command, Box<dyn Error>> {
        let config = t.config();
        let PinSource::File(pin) = &config.pin else {
            return Err("the test token's PIN is in a file".into());
        };
        let lockbox_token::TokenSelector::Label(label) = &config.token else {
            return Err("the test token is found by label".into());
        };
        let mut c = Command::new(std::env::current_exe()?);
        c.args([
            "peer_node",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PEER_MODULE, &config.module)
        .env(
            PEER_CONF,
            config.softhsm_conf.ok_or("no SoftHSM configuration")?,
        )
        .env(PEER_PIN_FILE, pin)
        .env(PEER_LABEL, label)
        .env(PEER_WAIT_MS, wait.as_millis().to_string());
        Ok(c)
    }

    /// Starts a peer whose lookups wait up to `wait` for an object to appear, and waits
    /// until it has opened the token.
    fn start(t: &TestToken, wait: Duration) -> Result<Peer, Box<dyn Error>> {
        let mut child = Self::command(t, wait)?
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut peer = Peer {
            child,
            stdin,
            stdout,
        };
        let first = peer.line()?;
        if first != "ready" {
            return Err(format!("the peer said {first:?} instead of ready").into());
        }
        Ok(peer)
    }

    fn send(&mut self, command: &str) -> TestResult {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        Ok(())
    }

    /// The next answer line that is not libtest's own output.
    fn line(&mut self) -> Result<String, Box<dyn Error>> {
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line)? == 0 {
                return Err("the peer node exited".into());
            }
            // libtest, told not to capture, prints `test peer_node ... ` before the
            // peer's first words, on the same line.
            let line = line.trim_end();
            let line = line.strip_prefix("test peer_node ... ").unwrap_or(line);
            if !line.is_empty() && !line.starts_with("running ") && !line.starts_with("test ") {
                return Ok(line.to_owned());
            }
        }
    }

    /// The answer to a `use`: its first word, and how long the peer took.
    fn answer(&mut self) -> Result<(String, Duration), Box<dyn Error>> {
        let line = self.line()?;
        let (word, ms) = line
            .split_once(' ')
            .ok_or_else(|| format!("answer {line:?}"))?;
        Ok((word.to_owned(), Duration::from_millis(ms.parse()?)))
    }

    fn use_key(&mut self, id: &ObjectId) -> Result<(String, Duration), Box<dyn Error>> {
        self.send(&format!("use {id}"))?;
        self.answer()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

lockbox_token::token_test!(fn a_key_made_in_one_process_works_in_another_at_once_and_its_destruction_is_seen(t) {
    let token = t.open()?;
    let mut peer = Peer::start(t, Duration::from_millis(500))?;
    // The peer has listed the token (and so filled its cache) before the key exists.
    peer.send("list")?;
    assert_eq!(peer.answer()?.0, "0");

    let key = token.generate_key(&SecretKeyTemplate::aes_256_encrypt_decrypt(), "key/1")?;
    let (answer, took) = peer.use_key(&key)?;
    assert_eq!(answer, "ok");
    assert!(took < Duration::from_millis(500), "found after {took:?}: SoftHSM shows it at once");
    assert_eq!(peer.use_key(&key)?.0, "ok");
    peer.send("recoveries")?;
    assert_eq!(peer.answer()?.0, "0");

    // Destroyed here: the peer's cached handle names nothing now (C_EncryptInit answers
    // CKR_OBJECT_HANDLE_INVALID). It recovers once, which empties its cache, searches for
    // the replication wait, and reports the key missing.
    token.destroy(&key)?;
    let (answer, took) = peer.use_key(&key)?;
    assert_eq!(answer, "ObjectNotFound");
    assert!(took >= Duration::from_millis(500), "reported missing after {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    peer.send("recoveries")?;
    assert_eq!(peer.answer()?.0, "1");
    Ok(())
});

lockbox_token::token_test!(fn a_lookup_waits_for_an_object_that_appears_late(t) {
    // A network HSM may show another member's new object only a while later. Here the
    // object is created 300 ms after the peers start looking for it.
    let mut patient = Peer::start(t, Duration::from_secs(3))?;
    let mut impatient = Peer::start(t, Duration::ZERO)?;
    let id = ObjectId::from_bytes([0x5a; 16]);
    let asked = Instant::now();
    patient.send(&format!("use {id}"))?;
    let (answer, took) = impatient.use_key(&id)?;
    assert_eq!(answer, "ObjectNotFound", "without a wait the object is missing");
    assert!(took < Duration::from_millis(300), "took {took:?}");

    std::thread::sleep(Duration::from_millis(300).saturating_sub(asked.elapsed()));
    t.import_known_aes_key(&[7; 32], *id.as_bytes(), "lockbox/late")?;
    let (answer, took) = patient.answer()?;
    assert_eq!(answer, "ok");
    assert!(took >= Duration::from_millis(250), "found after {took:?}, before it existed?");
    assert!(took < Duration::from_secs(3), "found only after {took:?}");
    // Once found, it is cached: no search at all.
    assert_eq!(patient.use_key(&id)?.0, "ok");
    Ok(())
});

lockbox_token::token_test!(fn processes_starting_beside_each_other_never_see_the_root_file_half_written(t) {
    // Every Lockbox start reads the root file (repair), initializes the module (which
    // reads it) and logs in (which rewrites it). Three processes starting over and over at
    // the same time must all find the token and never restore a file another is writing.
    let token = t.open()?;
    drop(token);
    let runs_per_lane = 25;
    let mut lanes = Vec::new();
    for _ in 0..3 {
        let mut command = Peer::command(t, Duration::ZERO)?;
        command.arg("open-only");
        lanes.push(std::thread::spawn(move || -> Result<Vec<String>, String> {
            let mut failures = Vec::new();
            for _ in 0..runs_per_lane {
                let out = command.output().map_err(|e| e.to_string())?;
                let stdout = String::from_utf8_lossy(&out.stdout);
                if !out.status.success() || !stdout.contains("opened 0\n") {
                    failures.push(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)));
                }
            }
            Ok(failures)
        }));
    }
    let mut failures = Vec::new();
    for lane in lanes {
        failures.extend(lane.join().map_err(|_| "a lane panicked")??);
    }
    let (failed, starts) = (failures.len(), 3 * runs_per_lane);
    assert!(failures.is_empty(), "{failed} of {starts} starts failed; first:\n{}", failures[0]);
    Ok(())
});
