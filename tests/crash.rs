//! Crash safety: a child process mutates keys and is killed with SIGKILL, at named failpoints
//! (exactly between two steps of a create, rotation, count reservation, deletion, or a
//! multi-Region family's write: ReplicateKey's transaction, a family member's write) and at
//! random moments. After every kill the parent reopens the data directory and checks:
//! every acknowledged key is present and usable, every acknowledged ciphertext still
//! decrypts (a multi-Region key's also in its replica's Region), every acknowledged replica
//! agrees with its primary on the family and the material, no record names missing material,
//! and no orphan object survives reconciliation.
//!
//! The child writes one line per acknowledged operation on stdout; whatever it did not
//! acknowledge may or may not have happened, and the checks allow for both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../crates/lockbox/tests/common/root.rs"]
mod root;
use root::Root;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use lockbox::api::*;
use lockbox::token::testing::TEST_TOKEN_LABEL;
use lockbox::token::{PinSource, TokenConfig, TokenSelector};
use lockbox::{Clock, Config, Engine, Lifecycle};
use lockbox_store::failpoints;
use lockbox_token::token_test;

const DATA_ENV: &str = "LOCKBOX_CRASH_DATA";
const MODULE_ENV: &str = "LOCKBOX_CRASH_MODULE";
const PIN_ENV: &str = "LOCKBOX_CRASH_PIN_FILE";
const START_ENV: &str = "LOCKBOX_CRASH_START_MS";
const SEED_ENV: &str = "LOCKBOX_CRASH_SEED";
const PAUSE_ENV: &str = "LOCKBOX_CRASH_PAUSE_AT";
const ARM_AFTER_ENV: &str = "LOCKBOX_CRASH_ARM_AFTER";

const DAY: i64 = 86_400_000;
/// The Region multi-Region keys are replicated into (the configured one is us-east-1).
const REPLICA_REGION: &str = "eu-west-1";
/// Each operation of the child moves its clock on by this much, so deletions and automatic
/// rotations come due within a few dozen operations.
const STEP: i64 = 2 * DAY;

/// Small limits, so rotation by use and count reservations happen often.
fn lifecycle() -> Lifecycle {
    Lifecycle {
        max_encryptions_per_version: 12,
        encryption_count_block: 5,
        orphan_grace: Duration::ZERO,
    }
}

/// A clock that moves only when told.
struct StepClock(AtomicI64);

impl Clock for StepClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst))
    }
}

/// xorshift64: enough to vary the child's choices, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn config(data: &Path, module: &Path, pin: &Path) -> Config {
    let token = TokenConfig::new(
        module,
        TokenSelector::Label(TEST_TOKEN_LABEL.into()),
        PinSource::File(pin.to_owned()),
    );
    let mut c = Config::new(data, token);
    c.lifecycle = lifecycle();
    c
}

/// The child: mutates until it is killed. Run only by the crash test, in a process of its own.
#[test]
#[ignore = "the crash test runs this in a child process it kills"]
fn crash_child() {
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let data = PathBuf::from(env(DATA_ENV));
    let clock = Arc::new(StepClock(AtomicI64::new(env(START_ENV).parse().unwrap())));
    let kms = Root(
        Engine::open_with_clock(
            config(&data, Path::new(&env(MODULE_ENV)), Path::new(&env(PIN_ENV))),
            clock.clone(),
        )
        .unwrap(),
    );
    let mut rng = Rng(env(SEED_ENV).parse().unwrap());
    let pause = std::env::var(PAUSE_ENV).ok();
    let arm_after: usize = std::env::var(ARM_AFTER_ENV)
        .ok()
        .map_or(0, |v| v.parse().unwrap());
    let ack = |line: String| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "ACK {line}").unwrap();
        out.flush().unwrap();
    };
    let mut live: Vec<KeyId> = kms
        .list_keys(ListKeysRequest::new())
        .unwrap()
        .keys
        .iter()
        .map(|k| k.key_id)
        .collect();
    live.retain(|k| {
        kms.describe_key(DescribeKeyRequest::new(*k))
            .unwrap()
            .key_metadata
            .key_state
            == KeyState::Enabled
    });
    for op in 0usize.. {
        if op == arm_after
            && let Some(p) = &pause
        {
            failpoints::arm_pause(p);
        }
        clock.0.fetch_add(STEP, Ordering::SeqCst);
        match op % 7 {
            0 if rng.below(3) == 0 => {
                // A multi-Region key and its replica (one transaction over the family), then
                // a write of the family (rotation enabled reaches the replica in the same
                // transaction).
                let id = kms
                    .create_key(CreateKeyRequest::new().with_multi_region(true))
                    .unwrap()
                    .key_metadata
                    .key_id;
                kms.replicate_key(ReplicateKeyRequest::new(id, REPLICA_REGION))
                    .unwrap();
                live.push(id);
                ack(format!("KEY {id}"));
                ack(format!("REPLICA {id}"));
                kms.enable_key_rotation(
                    EnableKeyRotationRequest::new(id).with_rotation_period_in_days(90),
                )
                .unwrap();
            }
            0 => {
                let id = kms
                    .create_key(CreateKeyRequest::new())
                    .unwrap()
                    .key_metadata
                    .key_id;
                if rng.below(2) == 0 {
                    kms.enable_key_rotation(
                        EnableKeyRotationRequest::new(id).with_rotation_period_in_days(90),
                    )
                    .unwrap();
                }
                live.push(id);
                ack(format!("KEY {id}"));
            }
            1 | 3 if !live.is_empty() => {
                let id = live[rng.below(live.len())];
                let msg = rng.next().to_be_bytes();
                let blob = if op % 7 == 1 {
                    kms.encrypt(EncryptRequest::new(id, Plaintext::copy_from(&msg)))
                        .unwrap()
                        .ciphertext_blob
                } else {
                    let dk = kms
                        .generate_data_key(GenerateDataKeyRequest::new(id, DataKeySpec::Aes128))
                        .unwrap();
                    ack(format!(
                        "BLOB {id} {} {}",
                        hex(&dk.ciphertext_blob),
                        hex(dk.plaintext.expose_secret())
                    ));
                    continue;
                };
                ack(format!("BLOB {id} {} {}", hex(&blob), hex(&msg)));
            }
            2 if !live.is_empty() => {
                let id = live[rng.below(live.len())];
                match kms.rotate_key_on_demand(RotateKeyOnDemandRequest::new(id)) {
                    Ok(_) => ack(format!("ROTATED {id}")),
                    Err(e)
                        if matches!(e.kind(), ErrorKind::LimitExceeded | ErrorKind::Conflict) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            4 if live.len() > 2 => {
                let id = live.remove(rng.below(live.len()));
                // Announced first: if the kill comes before the acknowledgement, the key may
                // or may not be scheduled (and then deleted by a later open).
                ack(format!("TRY-SCHEDULE {id}"));
                kms.schedule_key_deletion(
                    ScheduleKeyDeletionRequest::new(id).with_pending_window_in_days(7),
                )
                .unwrap();
                ack(format!("SCHEDULED {id}"));
            }
            5 => {
                let r = kms.maintain().unwrap();
                assert!(r.failed.is_empty(), "{:?}", r.failed);
                for id in r.deleted {
                    ack(format!("DELETED {id}"));
                }
            }
            _ => {
                // Bursts of encryptions to reach count reservations and rotation by use.
                if let Some(&id) = live.last() {
                    for _ in 0..6 {
                        let msg = rng.next().to_be_bytes();
                        let blob = kms
                            .encrypt(EncryptRequest::new(id, Plaintext::copy_from(&msg)))
                            .unwrap()
                            .ciphertext_blob;
                        ack(format!("BLOB {id} {} {}", hex(&blob), hex(&msg)));
                    }
                }
            }
        }
    }
}

/// What the child acknowledged, over all rounds.
#[derive(Default)]
struct Acked {
    keys: BTreeSet<KeyId>,
    scheduled: BTreeSet<KeyId>,
    /// About to be scheduled for deletion when the child was killed: it may or may not be
    /// (and if it was, a later open may have deleted it).
    maybe_scheduled: BTreeSet<KeyId>,
    deleted: BTreeSet<KeyId>,
    blobs: Vec<(KeyId, Vec<u8>, Vec<u8>)>,
    rotations: BTreeMap<KeyId, usize>,
    /// Multi-Region keys acknowledged with a replica in [`REPLICA_REGION`].
    replicas: BTreeSet<KeyId>,
}

impl Acked {
    fn take(&mut self, line: &str) {
        let parts: Vec<&str> = line.split(' ').collect();
        let id = || KeyId::parse(parts[1]).unwrap();
        match parts[0] {
            "KEY" => {
                self.keys.insert(id());
            }
            "SCHEDULED" => {
                self.scheduled.insert(id());
            }
            "TRY-SCHEDULE" => {
                self.maybe_scheduled.insert(id());
            }
            "DELETED" => {
                self.deleted.insert(id());
            }
            "ROTATED" => *self.rotations.entry(id()).or_default() += 1,
            "REPLICA" => {
                self.replicas.insert(id());
            }
            "BLOB" => self.blobs.push((id(), unhex(parts[2]), unhex(parts[3]))),
            other => panic!("unknown acknowledgement {other}"),
        }
    }
}

/// How a round's child is stopped.
enum Kill {
    /// When it pauses at this failpoint, armed after this many operations.
    At(&'static str, usize),
    /// After this long.
    After(Duration),
}

/// Runs one child until it is killed; returns its acknowledgements and whether a pause
/// point was reached.
fn run_child(
    data: &Path,
    t: &lockbox_token::testing::TestToken,
    start_ms: i64,
    seed: u64,
    kill: &Kill,
) -> (Vec<String>, bool) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "crash_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(DATA_ENV, data)
    .env(MODULE_ENV, &t.config().module)
    .env(PIN_ENV, t.dir().join("user.pin"))
    .env(START_ENV, start_ms.to_string())
    .env(SEED_ENV, seed.to_string())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if let Kill::At(point, after) = kill {
        cmd.env(PAUSE_ENV, point)
            .env(ARM_AFTER_ENV, after.to_string());
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest writes `test crash_child ... ` with no newline before the child's own
            // output, so the child's first line arrives behind it: take it off, or the first
            // acknowledgement (or a pause before any) is never seen.
            let line = match line.strip_prefix("test crash_child ... ") {
                Some(rest) => rest.to_owned(),
                None => line,
            };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acks = Vec::new();
    let mut paused = false;
    let deadline = Instant::now()
        + match kill {
            Kill::At(..) => Duration::from_secs(60),
            Kill::After(d) => *d,
        };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(a) = line.strip_prefix("ACK ") {
                    acks.push(a.to_owned());
                } else if line.starts_with(failpoints::PAUSED_PREFIX) {
                    paused = true;
                    break;
                }
            }
            Err(_) => break,
        }
    }
    // SIGKILL: no destructor, no flush, no goodbye.
    child.kill().unwrap();
    child.wait().unwrap();
    // Acknowledgements written before the kill are still in the pipe.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        if let Some(a) = line.strip_prefix("ACK ") {
            acks.push(a.to_owned());
        }
    }
    reader.join().unwrap();
    (acks, paused)
}

/// Reopens the directory and checks everything the child acknowledged.
fn check(
    data: &Path,
    t: &lockbox_token::testing::TestToken,
    now_ms: i64,
    acked: &Acked,
    round: &str,
) {
    let clock = Arc::new(StepClock(AtomicI64::new(now_ms)));
    let kms = Root(
        Engine::open_with_clock(
            config(data, &t.config().module, &t.dir().join("user.pin")),
            clock,
        )
        .unwrap(),
    );
    // Opening reconciled: with no grace period, no orphan is left, and nothing is missing.
    let r = kms.reconcile().unwrap();
    assert!(
        r.missing.is_empty(),
        "{round}: records name missing material: {:?}",
        r.missing
    );
    assert!(
        r.orphans.is_empty(),
        "{round}: orphans survived opening: {:?}",
        r.orphans
    );
    assert!(
        r.finished_deletions.is_empty(),
        "{round}: a deletion was left unfinished by open"
    );
    // Every token object belongs to exactly one material version of a record.
    let mut versions = 0;
    for k in kms
        .list_keys(ListKeysRequest::new().with_limit(1000))
        .unwrap()
        .keys
    {
        versions += kms
            .material_usage(&kms.default_caller("test"), &k.key_id.into())
            .unwrap()
            .len();
    }
    assert_eq!(
        kms.key_objects().unwrap().len(),
        versions,
        "{round}: objects and versions differ"
    );

    let mut states = BTreeMap::new();
    for id in &acked.keys {
        let state = match kms.describe_key(DescribeKeyRequest::new(*id)) {
            Ok(d) => Some(d.key_metadata.key_state),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::NotFound, "{round}: {id}: {e}");
                None
            }
        };
        states.insert(*id, state);
        let scheduled = acked.scheduled.contains(id);
        let maybe = scheduled || acked.maybe_scheduled.contains(id);
        match state {
            _ if acked.deleted.contains(id) => {
                assert_eq!(state, None, "{round}: deleted key {id} is back")
            }
            None => assert!(maybe, "{round}: acknowledged key {id} is gone"),
            Some(KeyState::PendingDeletion) => assert!(maybe, "{round}: {id} is pending deletion"),
            // A multi-Region primary is not deleted while its replica lives.
            Some(KeyState::PendingReplicaDeletion) => assert!(
                maybe && acked.replicas.contains(id),
                "{round}: {id} is pending replica deletion"
            ),
            Some(KeyState::Enabled) => {
                assert!(
                    !scheduled,
                    "{round}: the acknowledged deletion schedule of {id} was lost"
                );
                kms.encrypt(EncryptRequest::new(*id, Plaintext::copy_from(b"usable")))
                    .unwrap_or_else(|e| panic!("{round}: key {id} is not usable: {e}"));
                let rotations = kms
                    .list_key_rotations(ListKeyRotationsRequest::new(*id))
                    .unwrap()
                    .rotations;
                let on_demand = rotations
                    .iter()
                    .filter(|r| r.rotation_type == Some(RotationType::OnDemand))
                    .count();
                assert!(
                    on_demand >= acked.rotations.get(id).copied().unwrap_or(0),
                    "{round}: an acknowledged rotation of {id} was lost"
                );
            }
            Some(other) => panic!("{round}: {id} is {other}"),
        }
    }
    // Every acknowledged replica is there, Enabled, and agrees with its primary on the family
    // and the material: the primary's current version is the replica's.
    let replica = kms
        .0
        .client(kms.default_caller("test").with_region(REPLICA_REGION));
    for id in &acked.replicas {
        let md = replica
            .describe_key(DescribeKeyRequest::new(*id))
            .unwrap_or_else(|e| panic!("{round}: the acknowledged replica of {id} is gone: {e}"))
            .key_metadata;
        assert_eq!(md.key_state, KeyState::Enabled, "{round}: replica of {id}");
        let family = md.multi_region_configuration.unwrap();
        assert_eq!(
            (
                family.multi_region_key_type,
                family.primary_key.region.as_str()
            ),
            (MultiRegionKeyType::Replica, "us-east-1"),
            "{round}: replica of {id}"
        );
        if let Ok(primary) = kms.describe_key(DescribeKeyRequest::new(*id)) {
            let p = primary.key_metadata;
            assert_eq!(
                p.multi_region_configuration.unwrap().replica_keys.len(),
                1,
                "{round}: {id}'s family"
            );
            assert_eq!(
                p.current_key_material_id, md.current_key_material_id,
                "{round}: {id}'s replica has other material"
            );
        }
    }
    for (id, blob, msg) in &acked.blobs {
        // A replica decrypts everything its primary made, whatever the primary's state.
        if acked.replicas.contains(id) {
            let out = replica
                .decrypt(DecryptRequest::new(blob.clone()))
                .unwrap_or_else(|e| panic!("{round}: the replica of {id} cannot decrypt: {e}"));
            assert_eq!(out.plaintext.expose_secret(), msg.as_slice(), "{round}");
        }
        let out = kms.decrypt(DecryptRequest::new(blob.clone()));
        // A key may have been made, and used, without its own acknowledgement arriving.
        let state = match states.get(id) {
            Some(s) => *s,
            None => kms
                .describe_key(DescribeKeyRequest::new(*id))
                .ok()
                .map(|d| d.key_metadata.key_state),
        };
        match state {
            Some(KeyState::Enabled) => {
                let out = out.unwrap_or_else(|e| {
                    panic!("{round}: an acknowledged ciphertext of {id} no longer decrypts: {e}")
                });
                assert_eq!(out.plaintext.expose_secret(), msg.as_slice(), "{round}");
            }
            Some(_) => assert_eq!(
                out.map(|_| ()).unwrap_err().kind(),
                ErrorKind::KmsInvalidState,
                "{round}: {id}"
            ),
            None => assert_eq!(
                out.map(|_| ()).unwrap_err().kind(),
                ErrorKind::NotFound,
                "{round}: {id}"
            ),
        }
    }
}

token_test!(
    /// Kills at every named step, then at random moments; bounded to a few dozen seconds.
    fn acknowledged_work_survives_sigkill_at_every_step(t) {
        let data = t.dir().join("data");
        // A failed run prints its seed; LOCKBOX_CRASH_TEST_SEED replays it.
        let seed = match std::env::var("LOCKBOX_CRASH_TEST_SEED") {
            Ok(s) => s.parse::<u64>()?,
            Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64 | 1,
        };
        println!("crash test seed {seed}");
        let mut rng = Rng(seed);
        let mut acked = Acked::default();
        let mut start = 1_735_689_600_000i64;
        // (point, operations after which it is armed): each is reached within a few cycles.
        let points: &[(&str, usize)] = &[
            ("engine.create.after_material", 7),
            ("store.put_key.before_insert", 8),
            ("store.commit.before_flush", 9),
            ("engine.rotate.after_material", 2),
            ("store.commit.before_flush", 16),
            ("engine.delete.after_tombstone", 0),
            ("engine.delete.after_destroy", 0),
            ("store.finish_deletion.before_remove", 0),
            ("store.create_member.before_insert", 0),
            ("store.put_keys.before_insert", 0),
        ];
        let mut kills: Vec<Kill> = points.iter().map(|(p, n)| Kill::At(p, *n)).collect();
        for _ in 0..8 {
            kills.push(Kill::After(Duration::from_millis(150 + rng.below(600) as u64)));
        }
        for (i, kill) in kills.iter().enumerate() {
            let round = match kill {
                Kill::At(p, n) => format!("round {i} (seed {seed}): killed at {p} after op {n}"),
                Kill::After(d) => format!("round {i} (seed {seed}): killed after {d:?}"),
            };
            let (acks, paused) = run_child(&data, t, start, rng.next(), kill);
            if let Kill::At(..) = kill {
                assert!(paused, "{round}: the child never reached the point ({} acknowledgements)", acks.len());
            }
            for a in &acks {
                acked.take(a);
            }
            // The child's clock moved at most STEP per acknowledged operation (plus one).
            start += STEP * (acks.len() as i64 + 200);
            check(&data, t, start, &acked, &round);
        }
        let rotated: usize = acked.rotations.values().sum();
        println!(
            "{} kills: {} keys, {} ciphertexts, {} on-demand rotations, {} scheduled and {} deleted keys acknowledged",
            kills.len(), acked.keys.len(), acked.blobs.len(), rotated, acked.scheduled.len(), acked.deleted.len()
        );
        assert!(acked.keys.len() >= 8, "the children acknowledged only {} keys", acked.keys.len());
        assert!(!acked.deleted.is_empty(), "no deletion was ever acknowledged");
        assert!(!acked.replicas.is_empty(), "no replica was ever acknowledged");
        Ok(())
    }
);
