//! Cluster mode end to end (issue 17): three `lockbox serve` processes, each with a data
//! directory of its own, over one PostgreSQL database (a throwaway `PgCluster`) and one
//! SoftHSM token (provisioned by `lockbox` as the quick start does), driven by boto3
//! (`tests/clients/cluster_boto3.py`) spreading its calls over the three endpoints.
//!
//! Nodes A and B use the default consistency, C the strict one (consistency is a property of
//! the node that answers). The test checks that what any node acknowledged is there on every
//! node; that a change through one node is honoured by C at once and by the default node
//! within the bound (measured, and printed for docs/performance.md); that a node SIGKILLed
//! under load and a PostgreSQL restarted in the middle of the load lose nothing acknowledged,
//! that the others serve on and every node serves again after, caches included; and that
//! `lockbox audit verify` passes on each node's data directory.
//!
//! It lives in lockbox-cli's tests because it runs the `lockbox` binary; the boto3 virtualenv
//! is the workspace's (`tests/common/clients.rs`, skipped only on purpose).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

#[path = "../../../tests/common/clients.rs"]
mod clients;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lockbox_store::testing::PgCluster;

/// The principal of the second credential: the grantee of the client's grants (another
/// account, so only its grants let it use the keys).
const APP: &str = "arn:aws:iam::111122223333:user/app";
/// A change through one node must be honoured by a default-consistency node within this
/// (the default `cache_ttl_ms`, 1000, plus the time of the call that sees it).
const BOUND_MS: u64 = 1500;

/// A `lockbox serve` process, killed (by its own id) when dropped.
struct Node {
    name: &'static str,
    dir: PathBuf,
    endpoint: String,
    child: Child,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lockbox(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lockbox"));
    command
        .env("LOCKBOX_HOME", home)
        .env_remove("LOCKBOX_CALLER")
        .env_remove("SOFTHSM2_CONF")
        .env_remove("LOCKBOX_SOFTHSM_REEXEC")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    command
}

fn ok(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts `lockbox serve` on `dir` (its log in `dir/serve.log`) and waits for its endpoint.
fn start(name: &'static str, dir: &Path) -> Node {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join("serve.log"))
        .unwrap();
    let mut child = lockbox(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let endpoint = first
        .strip_prefix("lockbox: serving AWS KMS at ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| {
            panic!(
                "node {name} did not start: [{first}]\n{}",
                fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
            )
        })
        .to_owned();
    // Keep reading its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Node {
        name,
        dir: dir.to_owned(),
        endpoint,
        child,
    }
}

/// The Python client, in the cleared environment of the AWS clients tests.
struct Client {
    venv: PathBuf,
    home: PathBuf,
    credentials: PathBuf,
    script: PathBuf,
    /// The nodes' data directories, whose logs a failure shows.
    dirs: Vec<PathBuf>,
    /// CreateKey spread over the nodes too; else it goes to the first node named (SoftHSM
    /// loses track of other processes' new objects when several create at once).
    spread_creates: bool,
}

impl Client {
    fn command(&self, endpoints: &[&Node]) -> Command {
        let mut path = self.venv.join("bin").into_os_string();
        if let Some(system) = std::env::var_os("PATH") {
            path.push(":");
            path.push(system);
        }
        let endpoints: Vec<&str> = endpoints.iter().map(|n| n.endpoint.as_str()).collect();
        let mut cmd = Command::new(self.venv.join("bin/python"));
        cmd.arg(&self.script)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("TMPDIR", &self.home)
            .env("LANG", "C.UTF-8")
            .env("LOCKBOX_ENDPOINTS", endpoints.join(","))
            .env(
                "LOCKBOX_CREATE_ENDPOINT",
                if self.spread_creates {
                    ""
                } else {
                    endpoints[0]
                },
            )
            .env("LOCKBOX_CREDENTIALS_FILE", &self.credentials)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", self.home.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.join("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    }

    /// Runs the script with `args` against `nodes`; its last line of output, which must be
    /// JSON.
    fn run(&self, nodes: &[&Node], args: &[&str]) -> serde_json::Value {
        let out = self.command(nodes).args(args).output().unwrap();
        let what = format!("cluster_boto3.py {}", args.join(" "));
        if !out.status.success() {
            panic!(
                "{what} failed ({}):\n{}{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                logs(&self.dirs)
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{what}: {e}: {stdout}"))
    }
}

/// The last lines of each node's log, for a failure's message.
fn logs(dirs: &[PathBuf]) -> String {
    let mut all = String::new();
    for dir in dirs {
        let log = fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        all += &format!("--- {}/serve.log (last 30 lines)\n", dir.display());
        for line in &lines[lines.len().saturating_sub(30)..] {
            all += line;
            all.push('\n');
        }
    }
    all
}

fn private_file(path: &Path, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// A cluster's directories and database, the client, and where it records what was
/// acknowledged.
struct Cluster {
    // Dropped last (fields drop in order): the nodes are stopped by then.
    client: Client,
    state: String,
    dirs: Vec<PathBuf>,
    began: Instant,
    pg: PgCluster,
    tmp: tempfile::TempDir,
}

impl Cluster {
    /// A database, one token (a data directory provisioned as the quick start does: its
    /// softhsm2.conf, token label and PIN file are what every node names), one credentials
    /// file copied to every node, and three node directories: A and B of default
    /// consistency, C strict. None when the AWS clients tests are skipped on purpose.
    fn set_up(test: &str, spread_creates: bool) -> Option<Cluster> {
        if clients::skip_requested(test) {
            return None;
        }
        clients::python_env_or_panic();
        let began = Instant::now();
        let tmp = tempfile::tempdir().unwrap();
        let pg = PgCluster::start().unwrap();
        let seed = tmp.path().join("seed");
        ok(
            "provisioning",
            lockbox(&seed).args(["list-keys"]).output().unwrap(),
        );
        let seed = seed.canonicalize().unwrap();
        for principal in ["arn:aws:iam::000000000000:root", APP] {
            ok(
                "credentials create",
                lockbox(&seed)
                    .args(["credentials", "create", "--principal", principal])
                    .output()
                    .unwrap(),
            );
        }
        let credentials = fs::read(seed.join("credentials.toml")).unwrap();
        let mut dirs = Vec::new();
        for (name, consistency) in [("a", "default"), ("b", "default"), ("c", "strict")] {
            let dir = tmp.path().join(name);
            fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
            let config = format!(
                "[token]\n\
                 module = \"/usr/lib/softhsm/libsofthsm2.so\"\n\
                 label = \"lockbox\"\n\
                 pin_file = \"{seed}/token-user.pin\"\n\
                 softhsm_conf = \"{seed}/softhsm/softhsm2.conf\"\n\
                 \n\
                 [store]\n\
                 backend = \"postgres\"\n\
                 url = \"{url}\"\n\
                 password_file = \"db.password\"\n\
                 consistency = \"{consistency}\"\n\
                 pool_size = 8\n",
                seed = seed.display(),
                url = pg.url(),
            );
            private_file(&dir.join("lockbox.toml"), config.as_bytes());
            private_file(&dir.join("db.password"), pg.password().as_bytes());
            private_file(&dir.join("credentials.toml"), &credentials);
            // AWS's quota of 5 DisableKey (and EnableKey, CreateAlias) a second per node
            // would pace the measured changes; throttling is not what this test is about.
            private_file(&dir.join("server.toml"), b"[throttle]\nmanagement = 1000\n");
            dirs.push(dir);
        }
        let client = Client {
            venv: clients::python_env().unwrap(),
            home: tmp.path().join("client"),
            credentials: seed.join("credentials.toml"),
            script: clients::clients_dir().join("cluster_boto3.py"),
            dirs: dirs.clone(),
            spread_creates,
        };
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&client.home)
            .unwrap();
        let state = tmp
            .path()
            .join("acknowledged.json")
            .to_str()
            .unwrap()
            .to_owned();
        Some(Cluster {
            client,
            state,
            dirs,
            began,
            pg,
            tmp,
        })
    }

    fn start(&self) -> [Node; 3] {
        let nodes = [
            start("a", &self.dirs[0]),
            start("b", &self.dirs[1]),
            start("c", &self.dirs[2]),
        ];
        eprintln!("three nodes serving after {:?}", self.began.elapsed());
        nodes
    }

    /// `units` units of calls spread over `nodes`, then everything acknowledged so far is
    /// checked on each of them.
    fn load_and_check(&self, nodes: &[&Node], units: u64) {
        let load = self
            .client
            .run(nodes, &["load", &self.state, &units.to_string()]);
        assert_eq!(load["units"], units, "{load}");
        let mut args = vec!["check", self.state.as_str()];
        args.extend(nodes.iter().map(|n| n.endpoint.as_str()));
        let checked = self.client.run(nodes, &args);
        assert_eq!(checked["nodes"], nodes.len(), "{checked}");
        eprintln!(
            "load on {} nodes {load}, then checked: {checked} ({:?})",
            nodes.len(),
            self.began.elapsed()
        );
    }

    /// A change through `changer`, `rounds` times (two key changes each, and a grant
    /// revocation every fifth): refused at once by `strict`, within the bound by `default`.
    fn propagate(
        &self,
        changer: &Node,
        default: &Node,
        strict: &Node,
        rounds: u64,
    ) -> serde_json::Value {
        let figures = self.client.run(
            &[changer, default, strict],
            &[
                "propagate",
                &changer.endpoint,
                &default.endpoint,
                &strict.endpoint,
                &rounds.to_string(),
                &BOUND_MS.to_string(),
            ],
        );
        assert_eq!(
            figures["changes"],
            2 * rounds + (rounds / 5).max(1),
            "{figures}"
        );
        eprintln!(
            "cluster_serve: default consistency, a change through node {} honoured by node {} \
             after median {} ms, worst {} ms ({} changes: {} DisableKey/EnableKey, {} RevokeGrant; \
             bound {BOUND_MS} ms); strict node {} honoured each at the very next call",
            changer.name,
            default.name,
            figures["median_ms"],
            figures["worst_ms"],
            figures["changes"],
            figures["key_changes"],
            figures["grant_revocations"],
            strict.name,
        );
        figures
    }

    /// Runs the client's load over `nodes` until `fault` has been applied (after 10 units)
    /// and 20 more units were acknowledged after it; `fault` gets the cluster.
    fn load_through(&self, nodes: &[&Node], what: &str, fault: impl FnOnce(&Cluster)) {
        let stop = self.tmp.path().join("stop-load");
        let _ = fs::remove_file(&stop);
        let loader_err = self.tmp.path().join("load.stderr");
        let mut loader = Reaper(
            self.client
                .command(nodes)
                .args(["load", &self.state, "0", stop.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(fs::File::create(&loader_err).unwrap())
                .spawn()
                .unwrap(),
        );
        let (units_tx, units) = mpsc::channel::<u64>();
        let lines = BufReader::new(loader.0.stdout.take().unwrap()).lines();
        let reader = std::thread::spawn(move || {
            let mut last = String::new();
            for line in lines.map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("units ") {
                    let _ = units_tx.send(n.parse().unwrap_or(0));
                } else {
                    last = line;
                }
            }
            last
        });
        let mut seen = 0;
        let mut wait_units = |at_least: u64, when: &str| {
            let deadline = Instant::now() + Duration::from_secs(60);
            while seen < at_least {
                let left = deadline.saturating_duration_since(Instant::now());
                match units.recv_timeout(left) {
                    Ok(n) => seen = n,
                    Err(e) => panic!(
                        "the load stopped progressing {when} ({e}):\n{}\n{}",
                        fs::read_to_string(&loader_err).unwrap_or_default(),
                        logs(&self.dirs)
                    ),
                }
            }
            seen
        };
        let before = wait_units(10, &format!("before {what}"));
        fault(self);
        eprintln!("{what} under load ({:?})", self.began.elapsed());
        wait_units(before + 20, &format!("after {what}"));
        private_file(&stop, b"");
        let status = loader.0.wait().unwrap();
        let summary = reader.join().unwrap();
        assert!(
            status.success(),
            "the load through {what} failed: {}",
            fs::read_to_string(&loader_err).unwrap_or_default()
        );
        eprintln!("load through {what}: {summary}");
    }

    /// Stops the nodes (SIGTERM); then `lockbox audit verify` passes on each data directory.
    fn stop_and_verify(&self, nodes: [Node; 3]) {
        for mut node in nodes {
            let pid = node.child.id().to_string();
            ok(
                "kill -TERM",
                Command::new("kill").args(["-TERM", &pid]).output().unwrap(),
            );
            let deadline = Instant::now() + Duration::from_secs(20);
            while node.child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "node {} did not stop", node.name);
                std::thread::sleep(Duration::from_millis(20));
            }
            let out = lockbox(&node.dir)
                .args(["audit", "verify"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "audit verify on node {}: {}{}",
                node.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        eprintln!("cluster_serve: done in {:?}", self.began.elapsed());
    }
}

/// Kills a child process (by its own id) when dropped.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Calls spread over three nodes are all there on every node; a change through one node is
/// honoured by the others (strict: at once; default: within the bound, measured); a node
/// SIGKILLed under load loses nothing acknowledged, the others serve on, and it serves again
/// when restarted.
#[test]
fn three_serve_nodes_over_one_database_and_one_token() {
    let Some(cluster) = Cluster::set_up("three_serve_nodes_over_one_database_and_one_token", false)
    else {
        return;
    };
    let [a, b, c] = cluster.start();
    cluster.load_and_check(&[&a, &b, &c], 40);
    cluster.propagate(&a, &b, &c, 25);

    let pid = b.child.id().to_string();
    cluster.load_through(&[&a, &b, &c], "SIGKILL of node B", |_| {
        ok(
            "kill -KILL",
            Command::new("kill").args(["-KILL", &pid]).output().unwrap(),
        );
    });
    let mut b = b;
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&b.child.wait().unwrap()),
        Some(9)
    );
    drop(b);
    // The survivors hold everything acknowledged, before the kill and after it.
    cluster.load_and_check(&[&a, &c], 4);
    let b = start("b", &cluster.dirs[1]);
    cluster.load_and_check(&[&a, &b, &c], 4);
    cluster.stop_and_verify([a, b, c]);
}

/// PostgreSQL restarted in the middle of a run: calls during the restart may fail (the
/// client retries), afterwards every node serves again, nothing acknowledged is lost, and
/// caches recover (a change is honoured within the bound on the other nodes).
#[test]
fn a_postgresql_restart_under_load_loses_nothing_and_every_node_serves_after() {
    let Some(cluster) = Cluster::set_up(
        "a_postgresql_restart_under_load_loses_nothing_and_every_node_serves_after",
        false,
    ) else {
        return;
    };
    let [a, b, c] = cluster.start();
    cluster.load_and_check(&[&a, &b, &c], 12);
    cluster.load_through(&[&a, &b, &c], "a PostgreSQL restart", |cluster| {
        cluster.pg.restart().unwrap();
    });
    cluster.load_and_check(&[&a, &b, &c], 4);
    cluster.propagate(&b, &a, &c, 5);
    cluster.stop_and_verify([a, b, c]);
}

/// Keys created through every node at once, each used at once through the others. SoftHSM
/// loses track of another process's new object when it commits one of its own in between
/// (its token generation counter, `Generation::commit`, takes the file's value plus one);
/// without `raise_generations` (lockbox-token) a node then reported the key's material missing
/// after `replication_wait_ms` in about half the runs.
#[test]
fn keys_created_through_every_node_at_once_are_usable_on_every_node() {
    let Some(cluster) = Cluster::set_up(
        "keys_created_through_every_node_at_once_are_usable_on_every_node",
        true,
    ) else {
        return;
    };
    let [a, b, c] = cluster.start();
    cluster.load_and_check(&[&a, &b, &c], 40);
    cluster.stop_and_verify([a, b, c]);
}
