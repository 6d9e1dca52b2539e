//! The throwaway PostgreSQL harness (`lockbox_store::testing::PgCluster`): a cluster starts,
//! takes the role's password and refuses a wrong one, keeps committed data across an immediate
//! restart, runs beside others, and leaves no process and no directory behind, whether dropped
//! (also by a panicking test) or orphaned by a SIGKILLed test process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::thread;
use std::time::{Duration, Instant};

use lockbox_store::testing::{DATABASE, PgCluster, PgClusterError, ROLE};
use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};

fn connect(url: &str, password: &str) -> Result<Client, postgres::Error> {
    Config::from_str(url)?.password(password).connect(NoTls)
}

fn refusal(result: Result<Client, postgres::Error>) -> postgres::Error {
    match result {
        Ok(_) => panic!("connected"),
        Err(e) => e,
    }
}

/// The postmaster and its children (every process whose parent is the postmaster).
fn server_processes(postmaster: u32) -> Vec<u32> {
    let mut pids = vec![postmaster];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...; comm may hold spaces, so read after the last ')'.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
        if ppid == postmaster {
            pids.push(pid);
        }
    }
    pids
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; only its parent's wait is missing.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'),
        Err(_) => false,
    }
}

fn wait_until_gone(pids: &[u32], dir: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !dir.exists() && !pids.iter().any(|&p| alive(p)) {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = pids.iter().filter(|&&p| alive(p)).collect();
    panic!(
        "after {within:?}: processes still alive {left:?}, directory {} exists: {}",
        dir.display(),
        dir.exists()
    );
}

// A cluster can be shared between threads (a test restarting it while nodes use it); this
// does not compile otherwise.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PgCluster>();
};

#[test]
fn password_login_data_survive_an_immediate_restart() {
    let started = Instant::now();
    let pg = PgCluster::start().unwrap();
    eprintln!("cluster started in {:?}", started.elapsed());
    assert!(pg.is_running().unwrap());
    assert!(!pg.url().contains(pg.password()));
    assert!(!pg.tcp_url().contains(pg.password()));
    assert_eq!(
        pg.tcp_url(),
        format!("postgresql://{ROLE}@127.0.0.1:{}/{DATABASE}", pg.port())
    );

    // The unix socket, with the password: the role owns its database.
    let mut client = connect(&pg.url(), pg.password()).unwrap();
    let row = client
        .query_one("SELECT current_user::text, current_database()::text", &[])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), ROLE);
    assert_eq!(row.get::<_, String>(1), DATABASE);
    client
        .batch_execute("CREATE TABLE kv (k text PRIMARY KEY, v bytea NOT NULL)")
        .unwrap();
    client
        .execute(
            "INSERT INTO kv VALUES ($1, $2)",
            &[&"a", &b"one".as_slice()],
        )
        .unwrap();

    // A wrong password and no password are refused, on the socket and over TCP.
    for url in [pg.url(), pg.tcp_url()] {
        let err = refusal(connect(&url, "not-the-password"));
        assert_eq!(
            err.code(),
            Some(&SqlState::INVALID_PASSWORD),
            "{url}: {err}"
        );
        let err = refusal(Config::from_str(&url).unwrap().connect(NoTls));
        assert!(
            format!("{err:?}").contains("password missing"),
            "{url}: {err:?}"
        );
    }

    // Stop -m immediate and start again: the open connection breaks, the row stays.
    let before = pg.postmaster_pid().unwrap();
    let restarted = Instant::now();
    pg.restart().unwrap();
    eprintln!("cluster restarted in {:?}", restarted.elapsed());
    assert_ne!(pg.postmaster_pid().unwrap(), before);
    assert!(client.query_one("SELECT 1", &[]).is_err());
    let mut tcp = connect(&pg.tcp_url(), pg.password()).unwrap();
    let v: Vec<u8> = tcp
        .query_one("SELECT v FROM kv WHERE k = 'a'", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, b"one");

    // Stopped, nothing answers; started again, the same port answers.
    pg.stop().unwrap();
    assert!(!pg.is_running().unwrap());
    assert!(pg.postmaster_pid().is_none());
    assert!(connect(&pg.tcp_url(), pg.password()).is_err());
    pg.start_again().unwrap();
    let mut again = connect(&pg.url(), pg.password()).unwrap();
    let n: i64 = again
        .query_one("SELECT count(*) FROM kv", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[test]
fn the_role_is_not_a_superuser_and_admin_sql_is() {
    let pg = PgCluster::start().unwrap();
    let mut client = connect(&pg.url(), pg.password()).unwrap();
    let err = client.batch_execute("CREATE DATABASE other").unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    assert_eq!(
        pg.admin_sql("SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = 'lockbox';")
            .unwrap(),
        "f|f\n"
    );

    // The superuser can end the role's connections (what a test of listener loss does).
    let ended = pg
        .admin_sql(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename = 'lockbox') t;",
        )
        .unwrap();
    assert_eq!(ended, "1\n");
    assert!(client.query_one("SELECT 1", &[]).is_err());

    // A second database for the role, reachable through its own URL.
    let created = Instant::now();
    let url = pg.create_database("store_two").unwrap();
    eprintln!("database created in {:?}", created.elapsed());
    assert!(url.ends_with("dbname=store_two"), "{url}");
    let mut other = connect(&url, pg.password()).unwrap();
    other.batch_execute("CREATE TABLE t (x int)").unwrap();
    for bad in [
        "",
        "Upper",
        "1abc",
        "a-b",
        "x; DROP DATABASE lockbox",
        &"a".repeat(64),
    ] {
        assert!(
            matches!(pg.create_database(bad), Err(PgClusterError::InvalidName(n)) if n == bad),
            "{bad:?}"
        );
    }

    // SQL errors come back with psql's message.
    match pg.admin_sql("SELECT * FROM no_such_table;") {
        Err(PgClusterError::Command { output, .. }) => {
            assert!(
                output.contains("relation \"no_such_table\" does not exist"),
                "{output}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn four_clusters_run_side_by_side() {
    let started = Instant::now();
    let clusters: Vec<PgCluster> = (0..4)
        .map(|_| thread::spawn(|| PgCluster::start().unwrap()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    eprintln!("4 clusters started in parallel in {:?}", started.elapsed());
    let mut ports: Vec<u16> = clusters.iter().map(PgCluster::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4);
    // Each holds its own data: a table in one is absent from the others.
    for (i, pg) in clusters.iter().enumerate() {
        let mut client = connect(&pg.url(), pg.password()).unwrap();
        client
            .batch_execute(&format!("CREATE TABLE only_in_{i} (x int)"))
            .unwrap();
    }
    for (i, pg) in clusters.iter().enumerate() {
        let mut client = connect(&pg.tcp_url(), pg.password()).unwrap();
        let tables: Vec<String> = client
            .query(
                "SELECT tablename::text FROM pg_tables WHERE tablename LIKE 'only_in_%'",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(tables, [format!("only_in_{i}")]);
    }
}

#[test]
fn drop_stops_the_server_and_removes_the_directory() {
    let pg = PgCluster::start().unwrap();
    let dir = pg.socket_dir().to_owned();
    let pids = server_processes(pg.postmaster_pid().unwrap());
    // The postmaster and at least its checkpointer, writer, WAL writer...
    // (Only the postmaster for sure: the backend that served the setup may be exiting.)
    assert!(pids.len() > 3 && alive(pids[0]), "{pids:?}");
    drop(pg);
    // Drop waits for the cleanup: nothing is left the moment it returns.
    assert!(!dir.exists(), "{}", dir.display());
    let left: Vec<_> = pids.iter().filter(|&&p| alive(p)).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_panicking_test_leaves_nothing() {
    let found = thread::spawn(|| {
        let pg = PgCluster::start().unwrap();
        let found = (
            pg.socket_dir().to_owned(),
            server_processes(pg.postmaster_pid().unwrap()),
        );
        std::panic::panic_any(found);
    })
    .join()
    .unwrap_err()
    .downcast::<(PathBuf, Vec<u32>)>()
    .unwrap();
    let (dir, pids) = *found;
    assert!(!dir.exists(), "{}", dir.display());
    let left: Vec<_> = pids.iter().filter(|&&p| alive(p)).collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Set for the child of `a_sigkilled_test_process_leaves_nothing`.
const CHILD_ENV: &str = "LOCKBOX_PG_HARNESS_CHILD";

/// Not a test: the child process that `a_sigkilled_test_process_leaves_nothing` kills.
#[test]
#[ignore = "run by a_sigkilled_test_process_leaves_nothing in a child process"]
fn child_holding_a_cluster() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let pg = PgCluster::start().unwrap();
    let pids = server_processes(pg.postmaster_pid().unwrap());
    let mut out = std::io::stdout().lock();
    writeln!(out, "dir={}", pg.socket_dir().display()).unwrap();
    writeln!(
        out,
        "pids={}",
        pids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    )
    .unwrap();
    out.flush().unwrap();
    drop(out);
    thread::sleep(Duration::from_secs(600));
}

/// Kills (SIGKILL) and reaps the child when dropped, so a failing test leaves no child.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_sigkilled_test_process_leaves_nothing() {
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_holding_a_cluster",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut dir = None;
    let mut pids = None;
    for line in BufReader::new(child.0.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // libtest may print "test child_holding_a_cluster ... " first on the same line.
        if let Some((_, d)) = line.split_once("dir=") {
            dir = Some(PathBuf::from(d));
        } else if let Some(p) = line.strip_prefix("pids=") {
            pids = Some(
                p.split(',')
                    .map(|p| p.parse::<u32>().unwrap())
                    .collect::<Vec<_>>(),
            );
            break;
        }
    }
    let (dir, pids) = (dir.unwrap(), pids.unwrap());
    assert!(dir.exists());
    // (Only the postmaster for sure: the backend that served the setup may be exiting.)
    assert!(pids.len() > 3 && alive(pids[0]), "{pids:?}");
    drop(child); // SIGKILL: no Drop runs in the child
    wait_until_gone(&pids, &dir, Duration::from_secs(30));
}

/// Not a test: starts a cluster in a child process with the environment its parent chose, and
/// prints what happened.
#[test]
#[ignore = "run by start_errors_name_what_is_wrong in a child process"]
fn child_starting_a_cluster() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let outcome = match PgCluster::start() {
        Ok(_) => "outcome=started".to_owned(),
        Err(e) => format!("outcome={e}").replace('\n', " / "),
    };
    writeln!(std::io::stdout().lock(), "{outcome}").unwrap();
}

/// What `PgCluster::start` said in a child process with `env` added.
fn start_with_env(env: &[(&str, &str)]) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_starting_a_cluster",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (_, outcome) = stdout.split_once("outcome=").expect(&stdout);
    outcome.lines().next().unwrap().to_owned()
}

#[test]
fn start_errors_name_what_is_wrong() {
    assert_eq!(
        start_with_env(&[("LOCKBOX_PG_BINDIR", "/nonexistent/pg/bin")]),
        "PostgreSQL's server programs not found (LOCKBOX_PG_BINDIR=/nonexistent/pg/bin has no \
         initdb); install them with tests/postgres/install-postgres.sh or set LOCKBOX_PG_BINDIR"
    );
    let no_user = start_with_env(&[("LOCKBOX_PG_USER", "no-such-user-lockbox")]);
    if rustix::process::geteuid().is_root() {
        assert_eq!(
            no_user,
            "running as root, which initdb and postgres refuse, and the user to run them as is \
             unusable: no user \"no-such-user-lockbox\" (installing PostgreSQL's Debian package \
             creates \"postgres\") (set LOCKBOX_PG_USER to another unprivileged user)"
        );
        // A temporary directory the server's user cannot reach (root's private directory).
        let private = tempfile::tempdir().unwrap();
        let private_dir = private.path().join("private");
        std::fs::create_dir(&private_dir).unwrap();
        std::fs::set_permissions(&private_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let unreachable = start_with_env(&[("TMPDIR", private_dir.to_str().unwrap())]);
        let prefix = format!("temporary directory {}/lockbox-pg-", private_dir.display());
        assert!(unreachable.starts_with(&prefix), "{unreachable}");
        assert!(
            unreachable.ends_with(
                ": user postgres cannot reach it (every directory above it must be searchable by \
                 that user); set TMPDIR to one that is, such as /tmp"
            ),
            "{unreachable}"
        );
        // Nothing left in it.
        assert_eq!(std::fs::read_dir(&private_dir).unwrap().count(), 0);
    } else {
        // Not root: the server runs as the current user and the variable is not consulted.
        assert_eq!(no_user, "started");
    }
}

/// Not a test: uses the shared cluster in a child process, prints where it is, and returns, so
/// the process exits with the cluster still in its `static`.
#[test]
#[ignore = "run by the_shared_cluster_goes_when_the_process_exits in a child process"]
fn child_using_the_shared_cluster() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let pg = PgCluster::shared().unwrap();
    assert!(std::ptr::eq(pg, PgCluster::shared().unwrap()));
    let url = pg
        .create_database("child_using_the_shared_cluster")
        .unwrap();
    connect(&url, pg.password())
        .unwrap()
        .batch_execute("CREATE TABLE t (x int)")
        .unwrap();
    let pids = server_processes(pg.postmaster_pid().unwrap());
    let mut out = std::io::stdout().lock();
    writeln!(out, "dir={}", pg.socket_dir().display()).unwrap();
    writeln!(
        out,
        "pids={}",
        pids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    )
    .unwrap();
}

#[test]
fn the_shared_cluster_goes_when_the_process_exits() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_using_the_shared_cluster",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    let dir = PathBuf::from(
        stdout
            .split_once("dir=")
            .expect(&stdout)
            .1
            .lines()
            .next()
            .unwrap(),
    );
    let pids: Vec<u32> = stdout
        .split_once("pids=")
        .expect(&stdout)
        .1
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids.len() > 3, "{pids:?}");
    wait_until_gone(&pids, &dir, Duration::from_secs(30));
}
