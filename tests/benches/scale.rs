//! Cost against key count (issue 18): an engine holding N keys beside one holding 10, in the
//! same run.
//!
//! ```text
//! LOCKBOX_SCALE_KEYS=100000 LOCKBOX_SCALE_DIR=/var/tmp/lockbox-scale \
//!     cargo bench -p lockbox-tests --bench scale
//! ```
//!
//! `LOCKBOX_SCALE_SEAL_EVERY` sets the audit log's `seal_every` (default 1000), to tell the
//! cost of seals from the rest.
//!
//! `LOCKBOX_SCALE_KEYS` (default 100000) keys are created through the engine (the creation
//! time and rate are printed, with the rate of every 10,000 so a count-dependent cost shows).
//! With `LOCKBOX_SCALE_DIR` set, the directories are kept there and reused by the next run
//! (creation resumes where it stopped); without it they go under the target directory and
//! are made afresh.
//!
//! Layout: one SoftHSM token directory holds the big token (N keys) and the small one (10
//! keys), so that one process can pair Encrypt on both; a second SoftHSM directory holds a
//! 10-key token alone, for open time (SoftHSM's C_Initialize reads every object file of every
//! token in its directory, so the small open must not share the big token's directory).
//!
//! Reported, each as a ratio to the 10-key figure from paired rounds (blocks alternate,
//! order swapped every round, median and range of 15 rounds):
//! - open: a fresh process running `Engine::open` (module load, C_Initialize, login, store,
//!   audit log), and the floor, a fresh process doing only C_Initialize and C_Login through
//!   cryptoki, on the big token's directory;
//! - Encrypt of 32 bytes on one hot key, round-robin over every key, and on a random key.
//!   Before the rounds every key of the big engine is encrypted under once (its first
//!   encryption reserves a block of counts durably, a store flush); that pass is timed and
//!   printed as the first-touch rate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lockbox::api::*;
use lockbox::token::softhsm;
use lockbox::{Config, Engine};
use lockbox_token::{PinSource, TokenConfig, TokenSelector};

#[path = "common/paired.rs"]
mod paired;

use paired::{ROUNDS, paired};

const SMALL_KEYS: usize = 10;
const CHILD: &str = "LOCKBOX_SCALE_CHILD";

struct Layout {
    root: PathBuf,
}

impl Layout {
    fn shared_conf(&self) -> PathBuf {
        softhsm::conf_path(&self.root.join("shared"))
    }
    fn alone_conf(&self) -> PathBuf {
        softhsm::conf_path(&self.root.join("alone"))
    }
    fn token(&self, conf: &Path, label: &str) -> TokenConfig {
        let module = softhsm::find_module().expect("SoftHSM2 is not installed");
        let mut t = TokenConfig::new(
            module,
            TokenSelector::Label(label.to_owned()),
            PinSource::File(conf.parent().unwrap().join(format!("{label}.pin"))),
        );
        t.softhsm_conf = Some(conf.to_owned());
        t
    }
    fn config(&self, which: &str) -> Config {
        let (conf, label) = match which {
            "big" | "small" => (self.shared_conf(), format!("scale-{which}")),
            _ => (self.alone_conf(), "scale-alone".to_owned()),
        };
        let mut config = Config::new(self.root.join(which), self.token(&conf, &label));
        // For diagnosis: how often the audit log seals (each seal replaces the token mark, a
        // create and a destroy of a token object).
        if let Some(n) = std::env::var("LOCKBOX_SCALE_SEAL_EVERY")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            config.audit.seal_every = n;
        }
        config
    }
    /// Initializes token `label` under `conf` unless its PIN file says it exists.
    fn init(&self, conf: &Path, label: &str) {
        let pin = conf.parent().unwrap().join(format!("{label}.pin"));
        if pin.exists() {
            return;
        }
        let so = conf.parent().unwrap().join(format!("{label}.so.pin"));
        softhsm::init_token(&softhsm::find_module().unwrap(), conf, label, &pin, &so).unwrap();
    }
}

fn main() {
    let keep = std::env::var_os("LOCKBOX_SCALE_DIR").map(PathBuf::from);
    let root = keep
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lockbox-scale"));
    let n: usize = std::env::var("LOCKBOX_SCALE_KEYS")
        .ok()
        .map(|v| v.parse().expect("LOCKBOX_SCALE_KEYS must be a number"))
        .unwrap_or(100_000);
    let layout = Layout { root };
    if let Ok(mode) = std::env::var(CHILD) {
        child(&layout, &mode);
        return;
    }
    if keep.is_none() && std::env::var_os("LOCKBOX_SOFTHSM_REEXEC").is_none() {
        let _ = std::fs::remove_dir_all(&layout.root);
    }
    std::fs::create_dir_all(&layout.root).unwrap();
    softhsm::write_conf(&layout.root.join("shared")).unwrap();
    softhsm::write_conf(&layout.root.join("alone")).unwrap();
    // The 10-key token alone, made by a process of its own (its own SoftHSM directory).
    run_child(&layout, "make-alone", &layout.alone_conf());
    softhsm::ensure_conf_env(&layout.shared_conf()).unwrap();
    layout.init(&layout.shared_conf(), "scale-big");
    layout.init(&layout.shared_conf(), "scale-small");

    let small = Engine::open(layout.config("small")).unwrap();
    let small_keys = fill(&small, SMALL_KEYS, "small");
    let big = Engine::open(layout.config("big")).unwrap();
    let big_keys = fill(&big, n, "big");
    println!("keys: big {} small {}", big_keys.len(), small_keys.len());
    let objects = big.token().list_objects().unwrap().len();
    println!("token objects under the big engine's prefix: {objects}");

    // Open time: fresh processes, big against alone (10 keys), paired.
    let open_times = |mode: &str, conf: &Path| run_child(&layout, mode, conf);
    let mut rows = Vec::new();
    let open_pair = |name: &str, small_mode: &str, big_mode: &str| {
        let mut s = Vec::new();
        let mut b = Vec::new();
        for round in 0..5 {
            if round % 2 == 0 {
                s.push(open_times(small_mode, &layout.alone_conf()));
                b.push(open_times(big_mode, &layout.shared_conf()));
            } else {
                b.push(open_times(big_mode, &layout.shared_conf()));
                s.push(open_times(small_mode, &layout.alone_conf()));
            }
        }
        s.sort();
        b.sort();
        println!(
            "{name}: 10 keys {:.3} s, {n} keys {:.3} s (median of 5 processes; min {:.3}, max {:.3})",
            s[2].as_secs_f64(),
            b[2].as_secs_f64(),
            b[0].as_secs_f64(),
            b[4].as_secs_f64()
        );
        (s[2], b[2])
    };
    drop(big);
    drop(small);
    let (_, floor) = open_pair("bare C_Initialize+login", "raw-alone", "raw-big");
    let (open_small, open_big) = open_pair("Engine::open", "open-alone", "open-big");
    println!(
        "open: {:.3} s with {n} keys = {:.2} of SoftHSM's own C_Initialize+login ({:.3} s), {:.2}x the 10-key open",
        open_big.as_secs_f64(),
        open_big.as_secs_f64() / floor.as_secs_f64(),
        floor.as_secs_f64(),
        open_big.as_secs_f64() / open_small.as_secs_f64()
    );

    // Encrypt: reopen both in this process.
    let small = Engine::open(layout.config("small")).unwrap();
    let big = Engine::open(layout.config("big")).unwrap();
    let wait = Instant::now();
    let _ = big.open_report();
    println!(
        "background reconciliation of the big engine done {:.2} s after open returned",
        wait.elapsed().as_secs_f64()
    );
    let sk = small.client(small.default_caller("bench"));
    let bk = big.client(big.default_caller("bench"));
    let ctx = EncryptionContext::from_pairs([("purpose", "bench")]).unwrap();
    let p32 = [0x5a_u8; 32];
    let enc = |kms: &lockbox::EngineClient<'_>, key: KeyId| {
        black_box(
            kms.encrypt(
                EncryptRequest::new(key, Plaintext::copy_from(&p32))
                    .with_encryption_context(ctx.clone()),
            )
            .unwrap(),
        );
    };
    // First touch: every key once (each reserves its counts durably).
    for k in &small_keys {
        enc(&sk, *k);
    }
    let start = Instant::now();
    for k in &big_keys {
        enc(&bk, *k);
    }
    let t = start.elapsed();
    println!(
        "first touch of every big key: {:.1} s, {:.0} Encrypt/s",
        t.as_secs_f64(),
        big_keys.len() as f64 / t.as_secs_f64()
    );

    const BLOCK: usize = 2000;
    let (mut si, mut bi) = (0usize, 0usize);
    let hot = paired(BLOCK, &mut || enc(&sk, small_keys[0]), &mut || {
        enc(&bk, big_keys[0])
    });
    rows.push(("hot key", hot));
    let rr = paired(
        BLOCK,
        &mut || {
            si = (si + 1) % small_keys.len();
            enc(&sk, small_keys[si]);
        },
        &mut || {
            bi = (bi + 1) % big_keys.len();
            enc(&bk, big_keys[bi]);
        },
    );
    rows.push(("round-robin", rr));
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut y = 0x2545_f491_4f6c_dd1d_u64;
    let mut next2 = move || {
        y ^= y << 13;
        y ^= y >> 7;
        y ^= y << 17;
        y
    };
    let random = paired(
        BLOCK,
        &mut || enc(&sk, small_keys[(next() % small_keys.len() as u64) as usize]),
        &mut || enc(&bk, big_keys[(next2() % big_keys.len() as u64) as usize]),
    );
    rows.push(("random key", random));
    println!("\nEncrypt 32 B, {n} keys against 10 keys ({ROUNDS} paired rounds of {BLOCK} calls)");
    println!(
        "{:<12} {:>12} {:>12} {:>22}",
        "case", "10 keys/s", "N keys/s", "ratio (median [range])"
    );
    for (name, p) in &rows {
        println!(
            "{:<12} {:>12.0} {:>12.0} {:>22}",
            name,
            p.base_rate,
            p.candidate_rate,
            p.ratio()
        );
    }
}

/// Creates keys in `engine` until it has `n`, and returns their ids (creation resumes).
fn fill(engine: &Engine, n: usize, name: &str) -> Vec<KeyId> {
    let kms = engine.client(engine.default_caller("bench"));
    let mut keys = Vec::new();
    let mut marker = None;
    loop {
        let mut req = ListKeysRequest::new().with_limit(1000);
        if let Some(m) = marker.take() {
            req = req.with_marker(m);
        }
        let page = kms.list_keys(req).unwrap();
        keys.extend(page.keys.into_iter().map(|k| k.key_id));
        match page.next_marker {
            Some(m) if page.truncated => marker = Some(m),
            _ => break,
        }
    }
    if keys.len() >= n {
        keys.truncate(n);
        return keys;
    }
    let have = keys.len();
    let start = Instant::now();
    let mut lap = Instant::now();
    for i in have..n {
        keys.push(
            kms.create_key(CreateKeyRequest::new())
                .unwrap()
                .key_metadata
                .key_id,
        );
        if (i + 1) % 10_000 == 0 {
            println!(
                "{name}: {} keys, last 10,000 at {:.0} keys/s",
                i + 1,
                10_000.0 / lap.elapsed().as_secs_f64()
            );
            lap = Instant::now();
        }
    }
    let t = start.elapsed();
    if n - have > 0 {
        println!(
            "{name}: created {} keys in {:.1} s ({:.0} keys/s)",
            n - have,
            t.as_secs_f64(),
            (n - have) as f64 / t.as_secs_f64().max(1e-9)
        );
    }
    keys
}

/// Runs this binary as child `mode` with SoftHSM configuration `conf`; returns the time the
/// child measured (the open, without process start-up), if it printed one.
fn run_child(layout: &Layout, mode: &str, conf: &Path) -> Duration {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, mode)
        .env("LOCKBOX_SCALE_DIR", &layout.root)
        .env("SOFTHSM2_CONF", conf)
        .env_remove("LOCKBOX_SOFTHSM_REEXEC")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child {mode} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    if let Some(ns) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("background_ns="))
    {
        let ns: u64 = ns.trim().parse().unwrap();
        println!(
            "  {mode}: the reconciliation it started finished {:.3} s after open returned",
            ns as f64 / 1e9
        );
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("elapsed_ns="))
        .map_or(Duration::ZERO, |v| {
            Duration::from_nanos(v.trim().parse().unwrap())
        })
}

fn child(layout: &Layout, mode: &str) {
    let start = Instant::now();
    match mode {
        "make-alone" => {
            layout.init(&layout.alone_conf(), "scale-alone");
            let e = Engine::open(layout.config("alone")).unwrap();
            fill(&e, SMALL_KEYS, "alone");
        }
        "open-alone" | "open-big" => {
            let which = if mode == "open-big" { "big" } else { "alone" };
            let e = Engine::open(layout.config(which)).unwrap();
            println!("elapsed_ns={}", start.elapsed().as_nanos());
            // The reconciliation open left running, waited for outside the timing (a process
            // must not exit under a thread that is using the token).
            let wait = Instant::now();
            e.open_report().reconciliation.clone().unwrap();
            println!("background_ns={}", wait.elapsed().as_nanos());
        }
        "raw-alone" | "raw-big" => {
            let which = if mode == "raw-big" { "big" } else { "alone" };
            let config = layout.config(which);
            let s = lockbox_token::testing::raw_session(&config.token).unwrap();
            println!("elapsed_ns={}", start.elapsed().as_nanos());
            drop(s);
        }
        other => panic!("unknown child mode {other}"),
    }
}
