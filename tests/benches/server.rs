//! `lockbox serve` over HTTP beside the in-process engine, on one SoftHSM token, in one
//! process; and moto's KMS server, spoken to by the same client.
//!
//! ```text
//! tests/benches/moto-venv.sh          # once: moto[server] into target/moto-venv (optional)
//! cargo bench -p lockbox-tests --bench server
//! ```
//!
//! Two operations, each as the same caller (the engine's default principal):
//! Encrypt of 32 bytes with an encryption context, and GenerateDataKey (AES_256) with the same
//! context. Each is measured two ways, from 1 and from 4 client threads:
//! - `in-process`: `engine.client(caller)`, one client per thread.
//! - `http`: a `RemoteKms` over an `HttpTransport` per thread (so one keep-alive connection
//!   each) to a server started here with `Server::start` on 127.0.0.1:0: plain HTTP on
//!   loopback, SigV4 verified on every request, throttling off.
//!
//! The ratio http/in-process (throughput; 1.0 is "as fast as in process") comes from paired
//! rounds, as in the engine benchmark: the two ways alternate in blocks of calls, the order
//! swapped every round, and the median of the rounds is reported with its range, so that
//! SoftHSM's drift hits both sides of every ratio alike. The ops/s columns are the medians
//! of the same rounds.
//!
//! A breakdown from one thread then adds one layer at a time, each paired with in-process:
//! the JSON codec both ways in the calling thread, then SigV4 signing and verification too,
//! then the real server, and the HTTP exchange alone (an empty `POST /health`, answered 405).
//!
//! First, the server's floor: signed Encrypt against the bare exchange, from 1 and 4 client
//! threads, and against moto (`LOCKBOX_BENCH_FLOOR_ONLY=1`: only this table).
//!
//! `LOCKBOX_BENCH_PROFILE=encrypt|encrypt-4|generate_data_key|generate_data_key-4` runs only
//! that over HTTP for 20 s, for `perf record` (`LOCKBOX_BENCH_PROFILE_IN_PROCESS=1`: in process).
//!
//! moto: when `LOCKBOX_BENCH_MOTO` names a `moto_server` executable, or
//! `target/moto-venv/bin/moto_server` exists (`tests/benches/moto-venv.sh` makes it), the
//! bench starts it on a free loopback port, creates a key there through the same
//! `RemoteKms` (moto accepts any SigV4 credentials), and measures the same operations in
//! rounds paired with Lockbox's HTTP server. Without moto it says so and skips those
//! columns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lockbox::api::*;
use lockbox::token::softhsm;
use lockbox::{Config, Engine};
use lockbox_client::http_client::HttpTransport;
use lockbox_client::remote::{RemoteKms, Transport};
use lockbox_server::credentials::{Credential, CredentialStore, SecretKey};
use lockbox_server::server::{Server, ServerConfig};
use lockbox_server::sigv4;
use lockbox_server::wire::{self, FromTarget, Operation};
use zeroize::Zeroizing;

const ACCESS_KEY_ID: &str = "LBKBENCH0000000000000";
const THREADS: [usize; 2] = [1, 4];
const ROUNDS: usize = 15;
/// Calls per block, over all threads: about 0.1 s in process, 0.3-0.5 s over HTTP.
const BLOCK: usize = 4000;
const BREAKDOWN_ROUNDS: usize = 7;
const BREAKDOWN_BLOCK: usize = 2000;
const MOTO_ROUNDS: usize = 7;
/// moto answers a few hundred to a few thousand requests per second.
const MOTO_BLOCK: usize = 400;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Encrypt,
    GenerateDataKey,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Encrypt => "encrypt/32B+ctx",
            Op::GenerateDataKey => "generate_data_key/AES_256",
        }
    }

    /// The AWS operation name.
    fn target(self) -> &'static str {
        match self {
            Op::Encrypt => "Encrypt",
            Op::GenerateDataKey => "GenerateDataKey",
        }
    }

    fn call(self, kms: &dyn Kms, key: &KeyRef, ctx: &EncryptionContext) {
        match self {
            Op::Encrypt => {
                black_box(
                    kms.encrypt(
                        EncryptRequest::new(key.clone(), Plaintext::copy_from(&[0x5a; 32]))
                            .with_encryption_context(ctx.clone()),
                    )
                    .unwrap(),
                );
            }
            Op::GenerateDataKey => {
                black_box(
                    kms.generate_data_key(
                        GenerateDataKeyRequest::new(key.clone(), DataKeySpec::Aes256)
                            .with_encryption_context(ctx.clone()),
                    )
                    .unwrap(),
                );
            }
        }
    }
}

/// One way of calling: a call per thread (each with its own client).
struct Way<'a> {
    calls: Vec<Box<dyn Fn(Op) + Sync + 'a>>,
}

impl<'a> Way<'a> {
    /// `clients(i)` makes thread i's client; every call uses `key` and `ctx`.
    fn of<K: Kms + Sync + 'a>(
        threads: usize,
        key: KeyId,
        ctx: &EncryptionContext,
        mut clients: impl FnMut(usize) -> K,
    ) -> Way<'a> {
        Way {
            calls: (0..threads)
                .map(|i| {
                    let (kms, key, ctx) = (clients(i), KeyRef::from(key), ctx.clone());
                    Box::new(move |op: Op| op.call(&kms, &key, &ctx)) as Box<dyn Fn(Op) + Sync + 'a>
                })
                .collect(),
        }
    }

    /// Runs `calls` calls of `op` spread over `threads` threads; the wall time in seconds.
    fn run(&self, op: Op, threads: usize, calls: usize) -> f64 {
        let start = Instant::now();
        std::thread::scope(|s| {
            for call in &self.calls[..threads] {
                s.spawn(move || {
                    for _ in 0..calls / threads {
                        call(op);
                    }
                });
            }
        });
        start.elapsed().as_secs_f64()
    }
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test" || a == "--list");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lockbox-bench-server");
    // SoftHSM reads SOFTHSM2_CONF when it starts: re-run this binary with it set, first.
    softhsm::ensure_conf_env(&Config::softhsm_conf_path(&dir)).unwrap();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let config = Config::provision_softhsm(&dir).unwrap();
    println!("audit durability: {:?}", config.audit.durability);
    let engine = Arc::new(Engine::open(config).unwrap());
    let caller = engine.default_caller("127.0.0.1");
    let principal = caller.principal().clone();
    let region = engine.arn_scope().region().to_owned();

    // A fresh secret from the token's RNG, never printed; the server and each client get
    // their own copy (SecretKey is not Clone).
    let admin = engine.client(caller.clone());
    let secret = Zeroizing::new(
        admin
            .generate_random(GenerateRandomRequest::new(NumberOfBytes::new(30).unwrap()))
            .unwrap()
            .plaintext
            .expose_secret()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    );
    let credentials = CredentialStore::from_entries([Credential::new(
        ACCESS_KEY_ID,
        SecretKey::new(String::clone(&secret)),
        principal.clone(),
    )
    .unwrap()])
    .unwrap();
    let mut server_config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    server_config.throttle.enabled = false;
    let server = Server::start(engine.clone(), credentials, server_config).unwrap();
    let endpoint = format!("http://{}", server.local_addr());

    let key = admin
        .create_key(CreateKeyRequest::new())
        .unwrap()
        .key_metadata
        .key_id;
    let ctx = EncryptionContext::from_pairs([("purpose", "bench")]).unwrap();
    let max_threads = THREADS[THREADS.len() - 1];
    let in_process = Way::of(max_threads, key, &ctx, |_| engine.client(caller.clone()));
    let transport = |path: &str| {
        HttpTransport::new(
            &format!("{endpoint}{path}"),
            &region,
            ACCESS_KEY_ID.to_owned(),
            SecretKey::new(String::clone(&secret)),
        )
        .unwrap()
    };
    let http = Way::of(max_threads, key, &ctx, |_| RemoteKms::new(transport("")));
    // The breakdown: the same calls through the JSON codec both ways, in process; then with
    // SigV4 signing and verification too; and the HTTP exchange alone (POST /health with no
    // body, which the server answers 405 at once: no SigV4, JSON or engine).
    let json = Way::of(max_threads, key, &ctx, |_| {
        RemoteKms::new(Loopback {
            engine: engine.clone(),
            caller: caller.clone(),
            sigv4: None,
        })
    });
    let json_sigv4 = Way::of(max_threads, key, &ctx, |_| {
        RemoteKms::new(Loopback {
            engine: engine.clone(),
            caller: caller.clone(),
            sigv4: Some(Signer::new(&secret, &region, principal.clone())),
        })
    });
    let floor = Way {
        calls: (0..max_threads)
            .map(|_| {
                let t = transport("/health");
                Box::new(move |op: Op| {
                    // No body: hyper closes a connection whose request body was not read.
                    let (status, _) = t.post(op.target(), b"").unwrap();
                    assert_eq!(status, 405);
                }) as Box<dyn Fn(Op) + Sync>
            })
            .collect(),
    };
    drop(secret);

    let moto = if smoke { None } else { Moto::start() };
    let moto_way = moto.as_ref().map(|m| m.way(max_threads, &ctx));

    // Warm up every connection and cache, and check each way answers.
    for op in [Op::Encrypt, Op::GenerateDataKey] {
        for way in [
            Some(&in_process),
            Some(&http),
            Some(&json),
            Some(&json_sigv4),
            Some(&floor),
            moto_way.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            way.run(op, max_threads, max_threads * 50);
        }
    }
    if smoke {
        return;
    }
    // For `perf record`: only this operation over HTTP, from this many threads, for 20 s.
    if let Ok(spec) = std::env::var("LOCKBOX_BENCH_PROFILE") {
        let (op, threads) = match spec.as_str() {
            "encrypt" => (Op::Encrypt, 1),
            "encrypt-4" => (Op::Encrypt, 4),
            "generate_data_key" => (Op::GenerateDataKey, 1),
            _ => (Op::GenerateDataKey, 4),
        };
        let way = if std::env::var_os("LOCKBOX_BENCH_PROFILE_IN_PROCESS").is_some() {
            &in_process
        } else {
            &http
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            way.run(op, threads, BLOCK);
        }
        return;
    }

    println!("\nload before the rounds: {}", load());
    floor_table(&floor, &http, moto_way.as_ref());
    if std::env::var_os("LOCKBOX_BENCH_FLOOR_ONLY").is_some() {
        println!("load after the rounds: {}", load());
        return;
    }
    println!(
        "\nthroughput in ops/s and http/in-process, median of {ROUNDS} paired rounds of {BLOCK} calls \
         [min-max]; moto: median of {MOTO_ROUNDS} rounds of {MOTO_BLOCK} calls, paired with http"
    );
    println!(
        "{:<26} {:>7} {:>11} {:>9}   {:<19} {:>9}   {:<19}",
        "operation", "threads", "in-process", "http", "http/in-process", "moto", "http/moto"
    );
    for op in [Op::Encrypt, Op::GenerateDataKey] {
        for threads in THREADS {
            let ours = paired(ROUNDS, BLOCK, BLOCK, |first| {
                let (a, b) = (&in_process, &http);
                if first {
                    (a.run(op, threads, BLOCK), b.run(op, threads, BLOCK))
                } else {
                    let t = b.run(op, threads, BLOCK);
                    (a.run(op, threads, BLOCK), t)
                }
            });
            let versus_moto = moto_way.as_ref().map(|m| {
                paired(MOTO_ROUNDS, MOTO_BLOCK, MOTO_BLOCK, |first| {
                    let run = |w: &Way<'_>| w.run(op, threads, MOTO_BLOCK);
                    if first {
                        (run(m), run(&http))
                    } else {
                        let t = run(&http);
                        (run(m), t)
                    }
                })
            });
            let (moto_rate, moto_ratio) = match &versus_moto {
                Some(p) => (format!("{:.0}", p.base_rate), p.ratio()),
                None => ("-".to_owned(), "-".to_owned()),
            };
            println!(
                "{:<26} {:>7} {:>11.0} {:>9.0}   {:<19} {:>9}   {:<19}",
                op.name(),
                threads,
                ours.base_rate,
                ours.candidate_rate,
                ours.ratio(),
                moto_rate,
                moto_ratio
            );
        }
    }

    // Where an HTTP call's time goes, from one thread: each stage adds one layer.
    println!(
        "\nbreakdown, one thread: microseconds per call, median of {BREAKDOWN_ROUNDS} rounds of \
         {BREAKDOWN_BLOCK} calls, each paired with in-process [ratio to in-process throughput]"
    );
    println!(
        "{:<26} {:>16} {:>22} {:>22} {:>22} {:>22}",
        "operation", "in-process", "+json", "+json+sigv4", "http", "http POST /health"
    );
    for op in [Op::Encrypt, Op::GenerateDataKey] {
        let mut cells = Vec::new();
        let mut base = 0.0;
        for way in [&json, &json_sigv4, &http, &floor] {
            let p = paired(
                BREAKDOWN_ROUNDS,
                BREAKDOWN_BLOCK,
                BREAKDOWN_BLOCK,
                |first| {
                    let (a, b) = (&in_process, way);
                    if first {
                        (a.run(op, 1, BREAKDOWN_BLOCK), b.run(op, 1, BREAKDOWN_BLOCK))
                    } else {
                        let t = b.run(op, 1, BREAKDOWN_BLOCK);
                        (a.run(op, 1, BREAKDOWN_BLOCK), t)
                    }
                },
            );
            base = p.base_rate;
            cells.push(format!("{:.1} [{:.2}]", 1e6 / p.candidate_rate, p.median()));
        }
        println!(
            "{:<26} {:>16.1} {:>22} {:>22} {:>22} {:>22}",
            op.name(),
            1e6 / base,
            cells[0],
            cells[1],
            cells[2],
            cells[3]
        );
    }
    if moto.is_none() {
        println!("\nmoto: not measured (see above why; tests/benches/moto-venv.sh installs it)");
    }
    println!("load after the rounds: {}", load());

    drop(moto_way);
    drop(moto);
    drop(http);
    drop(in_process);
    drop(admin);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Signed Encrypt over HTTP against the bare HTTP exchange (an empty `POST /health`, which
/// the server answers 405 at once) on the same server, each client thread with its own
/// keep-alive connection: the server's floor (issue 18). Paired rounds, from 1 and 4 client
/// threads; then Encrypt on moto against Encrypt on Lockbox, paired.
fn floor_table(floor: &Way<'_>, http: &Way<'_>, moto: Option<&Way<'_>>) {
    println!(
        "\nsigned Encrypt against the bare exchange (POST /health answered 405): ops/s, median \
         of {ROUNDS} paired rounds of {BLOCK} calls; encrypt/health throughput [min-max]"
    );
    println!(
        "{:<8} {:>12} {:>12} {:>12} {:>12}   {:<19}",
        "threads", "health", "encrypt", "health us", "encrypt us", "encrypt/health"
    );
    let mut costs = Vec::new();
    for threads in THREADS {
        // What each way costs, summed over its blocks: the process's CPU time, and the
        // voluntary context switches of the threads that outlive a block (the server's, the
        // engine's), that is, how often the server side went to sleep and was woken.
        let (mut floor_cost, mut http_cost) = (Cost::default(), Cost::default());
        let p = paired(ROUNDS, BLOCK, BLOCK, |first| {
            let run = |w: &Way<'_>, cost: &mut Cost| {
                let before = Cost::now();
                let t = w.run(Op::Encrypt, threads, BLOCK);
                cost.add(before, Cost::now());
                t
            };
            if first {
                (run(floor, &mut floor_cost), run(http, &mut http_cost))
            } else {
                let t = run(http, &mut http_cost);
                (run(floor, &mut floor_cost), t)
            }
        });
        println!(
            "{:<8} {:>12.0} {:>12.0} {:>12.1} {:>12.1}   {:<19}",
            threads,
            p.base_rate,
            p.candidate_rate,
            1e6 / p.base_rate,
            1e6 / p.candidate_rate,
            p.ratio()
        );
        costs.push((threads, floor_cost, http_cost));
    }
    let calls = (ROUNDS * BLOCK) as f64;
    println!(
        "per call, over all rounds: CPU microseconds of the whole process (clients included), \
         and voluntary context switches of the long-lived (server and engine) threads"
    );
    println!(
        "{:<8} {:>12} {:>12} {:>14} {:>14}",
        "threads", "health CPU", "encrypt CPU", "health wakes", "encrypt wakes"
    );
    for (threads, f, h) in costs {
        println!(
            "{:<8} {:>12.1} {:>12.1} {:>14.2} {:>14.2}",
            threads,
            f.cpu_us / calls,
            h.cpu_us / calls,
            f.switches / calls,
            h.switches / calls
        );
    }
    let Some(moto) = moto else {
        println!("moto: not measured");
        return;
    };
    println!(
        "signed Encrypt, Lockbox against moto_server: ops/s, median of {MOTO_ROUNDS} paired \
         rounds of {MOTO_BLOCK} calls; lockbox/moto [min-max]"
    );
    println!(
        "{:<8} {:>12} {:>12}   {:<19}",
        "threads", "moto", "lockbox", "lockbox/moto"
    );
    for threads in THREADS {
        let p = paired(MOTO_ROUNDS, MOTO_BLOCK, MOTO_BLOCK, |first| {
            let run = |w: &Way<'_>| w.run(Op::Encrypt, threads, MOTO_BLOCK);
            if first {
                (run(moto), run(http))
            } else {
                let t = run(http);
                (run(moto), t)
            }
        });
        println!(
            "{:<8} {:>12.0} {:>12.0}   {:<19}",
            threads,
            p.base_rate,
            p.candidate_rate,
            p.ratio()
        );
    }
}

/// CPU time and voluntary context switches, read from /proc.
#[derive(Default, Clone, Copy)]
struct Cost {
    cpu_us: f64,
    switches: f64,
}

impl Cost {
    /// The process's CPU time so far (all its threads, ended ones included: utime + stime of
    /// /proc/self/stat, in clock ticks of 10 ms), and the sum of the voluntary context
    /// switches of its live threads.
    fn now() -> Cost {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        // Fields 14 and 15 of stat(5); the first after the command name is field 3.
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        let mut switches = 0.0;
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
                continue;
            };
            for line in status.lines() {
                if let Some(v) = line.strip_prefix("voluntary_ctxt_switches:") {
                    switches += v.trim().parse::<f64>().unwrap();
                }
            }
        }
        Cost {
            cpu_us: ticks * 10_000.0,
            switches,
        }
    }

    /// Adds what happened between `before` and `after`. Threads that ended in between (the
    /// block's client threads) are not counted; threads that started in between count whole.
    fn add(&mut self, before: Cost, after: Cost) {
        self.cpu_us += after.cpu_us - before.cpu_us;
        self.switches += (after.switches - before.switches).max(0.0);
    }
}

/// A transport that serves each request in this thread through the JSON codec
/// (`wire::serve`), optionally signing it with SigV4 and verifying the signature first, as
/// the server does: the server's work without HTTP, sockets or thread hops.
struct Loopback {
    engine: Arc<Engine>,
    caller: Caller,
    sigv4: Option<Signer>,
}

/// The client's and the server's SigV4 halves.
struct Signer {
    secret: SecretKey,
    region: String,
    store: CredentialStore,
    uri: http::Uri,
}

impl Signer {
    fn new(secret: &str, region: &str, principal: Principal) -> Signer {
        let store = CredentialStore::from_entries([Credential::new(
            ACCESS_KEY_ID,
            SecretKey::new(secret.to_owned()),
            principal,
        )
        .unwrap()])
        .unwrap();
        Signer {
            secret: SecretKey::new(secret.to_owned()),
            region: region.to_owned(),
            store,
            uri: "http://127.0.0.1:7300/".parse().unwrap(),
        }
    }

    /// Signs the request as `HttpTransport` does, and verifies it as the server does.
    fn sign_and_verify(&self, operation: &str, body: &[u8]) {
        let mut headers = http::HeaderMap::with_capacity(8);
        headers.insert(
            http::header::HOST,
            http::HeaderValue::from_static("127.0.0.1:7300"),
        );
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        headers.insert(
            "x-amz-target",
            http::HeaderValue::from_str(&format!("TrentService.{operation}")).unwrap(),
        );
        let now = SystemTime::now();
        sigv4::sign(
            "POST",
            &self.uri,
            &mut headers,
            body,
            ACCESS_KEY_ID,
            &self.secret,
            &self.region,
            "kms",
            now,
        )
        .unwrap();
        let (mut parts, ()) = http::Request::post(self.uri.clone())
            .body(())
            .unwrap()
            .into_parts();
        parts.headers = headers;
        sigv4::verify(&parts, body, &self.store, &self.region, "kms", now).unwrap();
    }
}

impl Transport for Loopback {
    fn post(&self, operation: &str, body: &[u8]) -> Result<(u16, Vec<u8>), KmsError> {
        if let Some(s) = &self.sigv4 {
            s.sign_and_verify(operation, body);
        }
        let op = Operation::from_target(&format!("TrentService.{operation}")).unwrap();
        let body = wire::serve(&self.engine.client(self.caller.clone()), op, body).unwrap();
        Ok((200, body))
    }
}

/// The figures of paired rounds: the baseline's and the candidate's median throughput, and
/// candidate/baseline throughput (median and range).
struct Paired {
    base_rate: f64,
    candidate_rate: f64,
    ratios: Vec<f64>,
}

impl Paired {
    fn median(&self) -> f64 {
        self.ratios[self.ratios.len() / 2]
    }

    fn ratio(&self) -> String {
        let n = self.ratios.len();
        format!(
            "{:.2} [{:.2}-{:.2}]",
            self.ratios[n / 2],
            self.ratios[0],
            self.ratios[n - 1]
        )
    }
}

/// Runs `rounds` rounds of `round(baseline_first)`, which returns (baseline seconds,
/// candidate seconds) for `base_calls` and `candidate_calls` calls; the order alternates.
fn paired(
    rounds: usize,
    base_calls: usize,
    candidate_calls: usize,
    mut round: impl FnMut(bool) -> (f64, f64),
) -> Paired {
    let mut base = Vec::with_capacity(rounds);
    let mut candidate = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let (b, c) = round(r % 2 == 0);
        let (b, c) = (base_calls as f64 / b, candidate_calls as f64 / c);
        base.push(b);
        candidate.push(c);
        ratios.push(c / b);
    }
    for v in [&mut base, &mut candidate, &mut ratios] {
        v.sort_by(f64::total_cmp);
    }
    Paired {
        base_rate: base[rounds / 2],
        candidate_rate: candidate[rounds / 2],
        ratios,
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// A moto server, a child process of this one, killed when dropped.
struct Moto {
    child: Child,
    endpoint: String,
    /// The key created there.
    key: Option<KeyId>,
}

impl Moto {
    /// Starts moto if an executable is found and it answers within 30 s.
    fn start() -> Option<Moto> {
        let exe = match std::env::var_os("LOCKBOX_BENCH_MOTO") {
            Some(p) => PathBuf::from(p),
            None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("../moto-venv/bin/moto_server"),
        };
        if !exe.exists() {
            println!(
                "moto: {} not found (tests/benches/moto-venv.sh installs it)",
                exe.display()
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                println!("moto: cannot start {}: {e}", exe.display());
                return None;
            }
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut moto = Moto {
            child,
            endpoint: format!("http://{addr}"),
            key: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline || moto.child.try_wait().ok().flatten().is_some() {
                println!("moto: {} did not start listening", exe.display());
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // moto answers `"KeyUsage": null` unless the request names one, which the client
        // refuses (AWS KMS always returns it).
        let create = CreateKeyRequest::new().with_key_usage(KeyUsage::EncryptDecrypt);
        match moto.client().create_key(create) {
            Ok(r) => moto.key = Some(r.key_metadata.key_id),
            Err(e) => {
                println!("moto: CreateKey failed: {e}");
                return None;
            }
        }
        println!("moto: {} on {addr}", exe.display());
        Some(moto)
    }

    /// A client with made-up credentials (moto verifies no signature).
    fn client(&self) -> RemoteKms {
        let transport = HttpTransport::new(
            &self.endpoint,
            "us-east-1",
            "AKIAMOTOBENCH".to_owned(),
            SecretKey::new("moto-accepts-any-secret".to_owned()),
        )
        .unwrap();
        RemoteKms::new(transport)
    }

    fn way(&self, threads: usize, ctx: &EncryptionContext) -> Way<'static> {
        // Set by `start` before it returns a Moto.
        let key = self.key.unwrap();
        Way::of(threads, key, ctx, |_| self.client())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
