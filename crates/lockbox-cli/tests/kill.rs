//! SIGKILL at each write-class system call of the `lockbox` binary, injected with strace, on a
//! default provisioned data directory; after every kill, everything acknowledged before it must
//! still be there and work (invariant 4 of the design, docs/durability.md "Kill test").
//!
//! How the points are chosen: each command is first run once, unkilled, under
//! `strace -f -e trace=<write-class set>` on its own copy of the prepared directory, and its
//! calls are counted per (thread, system call). strace's `when=N` counts per thread and per
//! system call, so for every system call S the command made and every N from 1 to the largest
//! count of S in any thread, one run on a fresh copy is killed with
//! `-e inject=S:signal=KILL:when=N`. `openat` is injected only at the N where some thread's
//! N-th `openat` carries O_CREAT (the creating opens; strace cannot select by flag). A run that
//! is not killed (another thread's timing shifted a count) is counted apart, not as a point.
//!
//! `soak_random_kills` and `soak_serve_under_load` (ignored; see docs/durability.md) are the
//! long random versions, run by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../lockbox-token/tests/oracle/import_material.rs"]
mod import_material;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lockbox_store::testing::{self, PgCluster};

/// The system calls that change a file or a directory (with `openat`, selected by flag). Names
/// with `?` are skipped silently where the architecture lacks them (aarch64 has no `rename`).
const WRITE_CLASS: &[&str] = &[
    "write",
    "pwrite64",
    "writev",
    "pwritev",
    "pwritev2",
    "ftruncate",
    "truncate",
    "fallocate",
    "copy_file_range",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "unlink",
    "unlinkat",
    "rmdir",
    "mkdir",
    "mkdirat",
    "chmod",
    "fchmod",
    "fchmodat",
    "fsync",
    "fdatasync",
    "sync_file_range",
    "msync",
    "openat",
];

/// The system calls that send on a socket (besides `write` and `writev`, in the set above):
/// how the PostgreSQL client's statements, COMMIT included, leave the process.
const SOCKET_SENDS: &[&str] = &["sendto", "sendmsg", "sendmmsg"];

/// Set to kill at every socket send, not every third (see `points`).
const ALL_SENDS: &str = "LOCKBOX_KILL_ALL_SENDS";

/// Writes a line of figures to stderr through its handle, not `eprintln!`: the test harness
/// captures the print macros, and the figures belong in every run's output.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

const ACCOUNT: &str = "arn:aws:kms:us-east-1:000000000000";
const ROOT: &str = "arn:aws:iam::000000000000:root";
const APP: &str = "arn:aws:iam::000000000000:user/app";
const OPS: &str = "arn:aws:iam::000000000000:user/ops";
const WORKER: &str = "arn:aws:iam::000000000000:role/worker";

fn strace_or_fail() {
    let found = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        found,
        "the kill test needs strace, and it is not on PATH: run softhsm-config/install-softhsm.sh \
         (it installs softhsm2 and strace), or `sudo apt-get install strace`"
    );
}

/// Runs `lockbox` on `home` with SOFTHSM2_CONF already set to its own configuration (so the
/// binary does not re-execute itself; the re-execution writes nothing).
fn lockbox_cmd(home: &Path) -> Command {
    in_env(Command::new(env!("CARGO_BIN_EXE_lockbox")), home)
}

fn in_env(mut c: Command, home: &Path) -> Command {
    c.env("LOCKBOX_HOME", home)
        .env("SOFTHSM2_CONF", home.join("softhsm/softhsm2.conf"))
        .env_remove("LOCKBOX_CALLER")
        .env_remove("LOCKBOX_SOFTHSM_REEXEC");
    c
}

fn run(home: &Path, args: &[&str]) -> Output {
    lockbox_cmd(home).args(args).output().unwrap()
}

/// The JSON a successful command printed, or the failure as text.
fn json(home: &Path, args: &[&str]) -> Result<serde_json::Value, String> {
    let out = run(home, args);
    if !out.status.success() {
        return Err(format!(
            "lockbox {args:?} exited {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    if out.stdout.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("lockbox {args:?} printed no JSON ({e})"))
}

fn setup_ok(home: &Path, args: &[&str]) -> serde_json::Value {
    json(home, args).unwrap_or_else(|e| panic!("preparing: {e}"))
}

fn key_arn(key: &str) -> String {
    format!("{ACCOUNT}:key/{key}")
}

/// A policy: the account root may do everything, `users` may encrypt and decrypt.
fn policy(users: &[&str]) -> String {
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ROOT},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": users},
         "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]});
    serde_json::to_string_pretty(&doc).unwrap() + "\n"
}

/// A prepared data directory and everything acknowledged in it.
struct World {
    _root: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    /// Aliased `alias/app`, with policy `policy1`, grant `grant1`, rotated once; `ct1` was made
    /// under it before the rotation and `ct1b` after.
    k1: String,
    /// Target of schedule-key-deletion and create-alias; `ct2` was made under it.
    k2: String,
    /// Origin EXTERNAL, waiting for its material (PendingImport): the target of
    /// import-key-material, whose import token and wrapped material (made by Python's
    /// `cryptography`) are `k3.token` and `k3.wrapped`; `ct3` was sealed outside with the
    /// same material.
    k3: String,
    /// A multi-Region primary key (in us-east-1, the configured Region) with a replica in
    /// eu-west-1: the target of replicate-key (into ap-southeast-2) and update-primary-region
    /// (to eu-west-1); `ct4` was made under it in us-east-1.
    k4: String,
    policy1: String,
    policy2: String,
    grant1: String,
    /// The `--retention-records` of the killed `audit prune`: all entries but about the first
    /// six, so that it prunes the world's first few sealed segments and no more (CI's time).
    prune_keep: u64,
    /// The credential `lockbox serve` made on first use (the check talks to a server).
    access_key: String,
    secret: String,
    /// Set when the world's metadata is in PostgreSQL (`[store] backend = "postgres"`): the
    /// prepared database, copied for every traced run and kill point.
    pg: Option<PgWorld>,
}

/// A world over PostgreSQL: the throwaway cluster, and the prepared database (a template,
/// closed to connections once prepared, so that copying it never meets one).
struct PgWorld {
    cluster: PgCluster,
    template: String,
}

/// Names the databases copied from the template, one per copy of the directory.
static COPIES: AtomicUsize = AtomicUsize::new(0);

const PLAIN1: &[u8] = b"acknowledged before the kill, under k1";
const PLAIN1B: &[u8] = b"acknowledged after k1's rotation";
const PLAIN2: &[u8] = b"acknowledged before the kill, under k2";
const PLAIN3: &[u8] = b"sealed outside with the material import-key-material brings";
const PLAIN4: &[u8] = b"acknowledged under a multi-Region key, in us-east-1";
/// The Region of k4's prepared replica, and the one replicate-key replicates it into.
const REPLICA: &str = "eu-west-1";
const NEW_REPLICA: &str = "ap-southeast-2";
const HOME_REGION: &str = "us-east-1";

impl World {
    fn prepare() -> World {
        World::prepare_on(None)
    }

    /// The same world with its metadata in database `world` of a throwaway PostgreSQL cluster
    /// (over TCP, with the role's password in a 0600 file of the data directory).
    fn prepare_pg() -> World {
        let cluster = PgCluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
        cluster
            .admin_sql(&format!("CREATE DATABASE world OWNER {};\n", testing::ROLE))
            .unwrap();
        let w = World::prepare_on(Some(PgWorld {
            cluster,
            template: "world".into(),
        }));
        // The template takes no more connections (autovacuum's included): a copy of a
        // database fails while another session is connected to it.
        let pg = w.pg.as_ref().unwrap();
        pg.cluster
            .admin_sql("ALTER DATABASE world WITH IS_TEMPLATE true ALLOW_CONNECTIONS false;\n")
            .unwrap();
        w
    }

    fn prepare_on(pg: Option<PgWorld>) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let home = root.join("prepared");
        if let Some(pg) = &pg {
            // Provision (token, lockbox.toml), then point the directory at the database
            // before anything is written to the store.
            setup_ok(&home, &["list-keys"]);
            write_private(&home.join("db.password"), pg.cluster.password().as_bytes());
            let mut toml = std::fs::read_to_string(home.join("lockbox.toml")).unwrap();
            assert!(
                !toml.contains("[store]"),
                "provisioned with a [store] already"
            );
            toml.push_str(&store_section(&pg.cluster, &pg.template));
            std::fs::write(home.join("lockbox.toml"), toml).unwrap();
        }
        let k1 = setup_ok(&home, &["create-key", "--description", "k1"])["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        let k2 = setup_ok(&home, &["create-key", "--description", "k2"])["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        setup_ok(
            &home,
            &[
                "create-alias",
                "--alias-name",
                "alias/app",
                "--target-key-id",
                &k1,
            ],
        );
        let k3 = prepare_import(&home, &root);
        let k4 = setup_ok(&home, &["create-key", "--multi-region"])["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        setup_ok(
            &home,
            &[
                "replicate-key",
                "--key-id",
                &k4,
                "--replica-region",
                REPLICA,
            ],
        );
        let policy1 = policy(&[APP]);
        let policy2 = policy(&[APP, OPS]);
        std::fs::write(root.join("policy1.json"), &policy1).unwrap();
        std::fs::write(root.join("policy2.json"), &policy2).unwrap();
        let p1 = format!("file://{}", root.join("policy1.json").display());
        setup_ok(&home, &["put-key-policy", "--key-id", &k1, "--policy", &p1]);
        let grant1 = setup_ok(
            &home,
            &[
                "create-grant",
                "--key-id",
                &k1,
                "--grantee-principal",
                WORKER,
                "--operations",
                "Encrypt",
                "Decrypt",
                "--name",
                "before",
            ],
        )["GrantId"]
            .as_str()
            .unwrap()
            .to_owned();
        // A first `lockbox serve` makes the credential the checks sign with.
        let mut serve = lockbox_cmd(&home)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(serve.stdout.take().unwrap());
        let mut line = String::new();
        while !line.starts_with("Serving until") {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "serve stopped");
        }
        // SIGTERM: it stops after sealing the audit trail, as a clean shutdown does.
        let term = Command::new("kill")
            .arg(serve.id().to_string())
            .status()
            .unwrap();
        assert!(term.success());
        std::io::copy(&mut stdout, &mut std::io::sink()).unwrap();
        assert!(serve.wait().unwrap().success());
        let creds = std::fs::read_to_string(home.join("credentials.toml")).unwrap();
        let field = |name: &str| {
            creds
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
                .and_then(|v| v.strip_suffix('"'))
                .unwrap()
                .to_owned()
        };
        // The log's last entry, once everything below is written (five commands: an event and a
        // seal each).
        let out = run(&home, &["audit", "verify"]);
        assert!(
            out.status.success(),
            "audit verify of the prepared world failed"
        );
        let last_seq: u64 = String::from_utf8_lossy(&out.stdout)
            .split_once("last seq ")
            .and_then(|(_, r)| {
                r.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .map(str::to_owned)
            })
            .and_then(|n| n.parse().ok())
            .expect("audit verify printed no last seq");
        let w = World {
            prune_keep: last_seq + 10 - 6,
            _root: tmp,
            access_key: field("access_key_id"),
            secret: field("secret_access_key"),
            root,
            home,
            k1,
            k2,
            k3,
            k4,
            policy1,
            policy2,
            grant1,
            pg,
        };
        w.encrypt_to("alias/app", PLAIN1, "ct1");
        w.encrypt_to(&w.k2.clone(), PLAIN2, "ct2");
        w.encrypt_to(&w.k4.clone(), PLAIN4, "ct4");
        setup_ok(&w.home, &["rotate-key-on-demand", "--key-id", &w.k1]);
        w.encrypt_to("alias/app", PLAIN1B, "ct1b");
        w
    }

    fn encrypt_to(&self, key: &str, plain: &[u8], name: &str) {
        let p = self.root.join(format!("{name}.plain"));
        std::fs::write(&p, plain).unwrap();
        setup_ok(
            &self.home,
            &[
                "encrypt",
                "--key-id",
                key,
                "--plaintext",
                &format!("fileb://{}", p.display()),
                "--encryption-context",
                &format!("purpose={name}"),
                "--ciphertext-out",
                &self.root.join(name).display().to_string(),
            ],
        );
    }

    /// The system calls a run is traced and killed at: the write-class set, and over
    /// PostgreSQL also the socket sends that carry statements (and COMMIT) to the server.
    fn syscalls(&self) -> Vec<&'static str> {
        let mut set = WRITE_CLASS.to_vec();
        if self.pg.is_some() {
            set.extend_from_slice(SOCKET_SENDS);
        }
        set
    }

    /// A copy of the prepared directory at `dest` that works on its own: its SoftHSM
    /// configuration names the copy's token directory, not the original's; over PostgreSQL,
    /// its `[store]` names a database of its own, copied from the prepared one (dropped by
    /// [`World::drop_copy`]).
    fn copy_to(&self, dest: &Path) -> PathBuf {
        let home = self.copy_dir(dest);
        if let Some(pg) = &self.pg {
            let db = format!("copy_{}", COPIES.fetch_add(1, Ordering::Relaxed));
            pg.cluster
                .admin_sql(&format!(
                    "CREATE DATABASE {db} TEMPLATE {} OWNER {};\n",
                    pg.template,
                    testing::ROLE
                ))
                .unwrap_or_else(|e| panic!("copying the prepared database: {e}"));
            std::fs::write(dest.join("db.name"), &db).unwrap();
            let conf = home.join("lockbox.toml");
            let text = std::fs::read_to_string(&conf).unwrap();
            let (kept, _) = text.split_once("\n[store]\n").unwrap();
            std::fs::write(&conf, format!("{kept}{}", store_section(&pg.cluster, &db))).unwrap();
        }
        home
    }

    /// Drops the database of the copy at `dest`, if the world has one.
    fn drop_copy(&self, dest: &Path) {
        if let (Some(pg), Ok(db)) = (&self.pg, std::fs::read_to_string(dest.join("db.name"))) {
            pg.cluster
                .admin_sql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE);\n"))
                .unwrap_or_else(|e| panic!("dropping {db}: {e}"));
        }
    }

    fn copy_dir(&self, dest: &Path) -> PathBuf {
        let home = dest.join("home");
        let st = Command::new("cp")
            .arg("-a")
            .arg(&self.home)
            .arg(&home)
            .status()
            .unwrap();
        assert!(st.success(), "cp -a failed");
        let conf = home.join("softhsm/softhsm2.conf");
        let text = std::fs::read_to_string(&conf).unwrap();
        let from = self.home.display().to_string();
        std::fs::write(&conf, text.replace(&from, &home.display().to_string())).unwrap();
        home
    }
}

/// Creates k3 (origin EXTERNAL) in `home`, gets its import parameters, and has Python's
/// `cryptography` make AES-256 material, wrap it (RSA_AES_KEY_WRAP_SHA_256) and seal `ct3`
/// (a ciphertext blob of docs/formats/ciphertext-blob.md, version 1, empty context) with it.
fn prepare_import(home: &Path, root: &Path) -> String {
    let k3 = setup_ok(
        home,
        &["create-key", "--origin", "EXTERNAL", "--description", "k3"],
    )["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let public = root.join("k3.public");
    setup_ok(
        home,
        &[
            "get-parameters-for-import",
            "--key-id",
            &k3,
            "--wrapping-algorithm",
            "RSA_AES_KEY_WRAP_SHA_256",
            "--wrapping-key-spec",
            "RSA_2048",
            "--public-key-out",
            &public.display().to_string(),
            "--import-token-out",
            &root.join("k3.token").display().to_string(),
        ],
    );
    let m = import_material::material(root, "AES_256", "k3.material").unwrap();
    let wrapped = import_material::wrap(
        root,
        &std::fs::read(&public).unwrap(),
        "RSA_AES_KEY_WRAP_SHA_256",
        &m,
    )
    .unwrap();
    std::fs::write(root.join("k3.wrapped"), wrapped).unwrap();
    let id = uuid_bytes(&k3);
    let mut header = vec![1u8];
    header.extend_from_slice(&id);
    header.extend_from_slice(&1u32.to_be_bytes());
    header.push(1);
    let iv = [0x3c; 12];
    let aad = [header.as_slice(), &[0, 0]].concat();
    let sealed = import_material::gcm(&m, &iv, &aad, PLAIN3).unwrap();
    std::fs::write(root.join("ct3"), [header.as_slice(), &iv, &sealed].concat()).unwrap();
    k3
}

/// The `[store]` section naming `db` in `pg` over TCP, the password in `db.password`.
fn store_section(pg: &PgCluster, db: &str) -> String {
    format!(
        "\n[store]\nbackend = \"postgres\"\nurl = \"postgresql://{}@127.0.0.1:{}/{db}\"\n\
         password_file = \"db.password\"\npool_size = 2\n",
        testing::ROLE,
        pg.port()
    )
}

/// Writes `bytes` to a new file that only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// The 16 bytes of a key id (a UUID).
fn uuid_bytes(id: &str) -> Vec<u8> {
    let h: String = id.chars().filter(|c| *c != '-').collect();
    (0..16)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// The commands killed, each on the prepared directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Cmd {
    /// Start-up: opening the directory (token login, store open), then a read-only call.
    ListKeys,
    CreateKey,
    /// CreateKey of a key pair (ECC_NIST_P256, SIGN_VERIFY): two token objects, one record.
    CreateKeyPair,
    /// CreateKey of a multi-Region primary key (issue 15): an `mrk-` id, whose record is kept
    /// in a slot derived from (id, Region) rather than the id.
    CreateMultiRegionKey,
    Encrypt,
    RotateKeyOnDemand,
    ScheduleKeyDeletion,
    PutKeyPolicy,
    CreateGrant,
    CreateAlias,
    /// ImportKeyMaterial into k3 (AES-256 material wrapped with RSA_AES_KEY_WRAP_SHA_256):
    /// unwrapped into the token, then the record.
    ImportKeyMaterial,
    /// ReplicateKey of k4 into ap-southeast-2: one transaction writes the replica and the
    /// family's other records; no token object.
    ReplicateKey,
    /// UpdatePrimaryRegion of k4 to eu-west-1: one transaction rewrites the family.
    UpdatePrimaryRegion,
    /// `audit prune --retention-records` keeping all but the world's first few sealed
    /// segments (issue 18): each segment is written to its file (flushed, renamed, the
    /// directory flushed), then removed from the store in one transaction.
    PruneAudit,
}

const ALL: [Cmd; 14] = [
    Cmd::ListKeys,
    Cmd::CreateKey,
    Cmd::CreateKeyPair,
    Cmd::CreateMultiRegionKey,
    Cmd::Encrypt,
    Cmd::RotateKeyOnDemand,
    Cmd::ScheduleKeyDeletion,
    Cmd::PutKeyPolicy,
    Cmd::CreateGrant,
    Cmd::CreateAlias,
    Cmd::ImportKeyMaterial,
    Cmd::ReplicateKey,
    Cmd::UpdatePrimaryRegion,
    Cmd::PruneAudit,
];

impl Cmd {
    fn args(self, w: &World) -> Vec<String> {
        let v: Vec<&str> = match self {
            Cmd::ListKeys => vec!["list-keys"],
            Cmd::CreateKey => vec!["create-key", "--description", "made by the killed command"],
            Cmd::CreateKeyPair => vec![
                "create-key",
                "--key-spec",
                "ECC_NIST_P256",
                "--key-usage",
                "SIGN_VERIFY",
            ],
            Cmd::CreateMultiRegionKey => vec!["create-key", "--multi-region"],
            Cmd::Encrypt => vec!["encrypt", "--key-id", "alias/app", "--plaintext", "aGk="],
            Cmd::RotateKeyOnDemand => vec!["rotate-key-on-demand", "--key-id", &w.k1],
            Cmd::ScheduleKeyDeletion => vec![
                "schedule-key-deletion",
                "--key-id",
                &w.k2,
                "--pending-window-in-days",
                "7",
            ],
            Cmd::PutKeyPolicy => {
                return vec![
                    "put-key-policy".into(),
                    "--key-id".into(),
                    w.k1.clone(),
                    "--policy".into(),
                    format!("file://{}", w.root.join("policy2.json").display()),
                ];
            }
            Cmd::CreateGrant => vec![
                "create-grant",
                "--key-id",
                &w.k1,
                "--grantee-principal",
                APP,
                "--operations",
                "Decrypt",
                "--name",
                "during",
            ],
            Cmd::CreateAlias => vec![
                "create-alias",
                "--alias-name",
                "alias/new",
                "--target-key-id",
                &w.k2,
            ],
            Cmd::ReplicateKey => vec![
                "replicate-key",
                "--key-id",
                &w.k4,
                "--replica-region",
                NEW_REPLICA,
            ],
            Cmd::PruneAudit => {
                return vec![
                    "audit".into(),
                    "prune".into(),
                    "--retention-records".into(),
                    w.prune_keep.to_string(),
                ];
            }
            Cmd::UpdatePrimaryRegion => vec![
                "update-primary-region",
                "--key-id",
                &w.k4,
                "--primary-region",
                REPLICA,
            ],
            Cmd::ImportKeyMaterial => {
                return vec![
                    "import-key-material".into(),
                    "--key-id".into(),
                    w.k3.clone(),
                    "--import-token".into(),
                    format!("fileb://{}", w.root.join("k3.token").display()),
                    "--encrypted-key-material".into(),
                    format!("fileb://{}", w.root.join("k3.wrapped").display()),
                    "--expiration-model".into(),
                    "KEY_MATERIAL_DOES_NOT_EXPIRE".into(),
                ];
            }
        };
        v.into_iter().map(str::to_owned).collect()
    }
}

/// `lockbox serve` on a copy: the check's calls go through it, one process opening the
/// directory instead of one per call.
struct Served {
    child: std::process::Child,
    /// Held open: the server writes more to it, and a closed pipe would stop it.
    _stdout: BufReader<std::process::ChildStdout>,
    remote: Remote,
}

impl Served {
    fn start(w: &World, home: &Path) -> Result<Served, String> {
        let log = home.with_file_name("serve.log");
        let mut child = lockbox_cmd(home)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        // A server that neither listens nor exits within a minute is killed, so a hang fails
        // the point instead of hanging the suite.
        let (ready, wait) = std::sync::mpsc::channel::<()>();
        let pid = child.id().to_string();
        std::thread::spawn(move || {
            if wait.recv_timeout(Duration::from_secs(60)).is_err() {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        });
        let mut endpoint = None;
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(rest) = line.strip_prefix("lockbox: serving AWS KMS at ") {
                endpoint = rest.split(' ').next().map(str::to_owned);
                break;
            }
            line.clear();
        }
        let _ = ready.send(());
        let Some(endpoint) = endpoint else {
            let status = child.wait().map_err(|e| e.to_string())?;
            let err = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "the directory does not open: lockbox serve exited {status}: {}",
                err.trim_end()
            ));
        };
        Ok(Served {
            child,
            _stdout: stdout,
            remote: Remote {
                endpoint,
                access_key: w.access_key.clone(),
                secret: w.secret.clone(),
                cwd: home.parent().ok_or("no parent")?.to_owned(),
            },
        })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks, on a directory where `cmd` was killed, that it opens and that everything
/// acknowledged before the kill is there and works; the killed command's own effect may be
/// there or not, and must be whole either way.
fn check(w: &World, r: &Remote, cmd: Cmd) -> Result<(), String> {
    // The directory opens, and every acknowledged key is listed.
    let listed: BTreeSet<String> = r.run(&["list-keys"])?["Keys"]
        .as_array()
        .ok_or("list-keys printed no Keys")?
        .iter()
        .map(|k| k["KeyId"].as_str().unwrap_or_default().to_owned())
        .collect();
    for k in [&w.k1, &w.k2, &w.k3, &w.k4] {
        if !listed.contains(k) {
            return Err(format!("acknowledged key {k} is not listed ({listed:?})"));
        }
    }
    let extra: Vec<&String> = listed
        .iter()
        .filter(|k| **k != w.k1 && **k != w.k2 && **k != w.k3 && **k != w.k4)
        .collect();
    match (cmd, extra.as_slice()) {
        (_, []) => {}
        (Cmd::CreateMultiRegionKey, [made]) if !made.starts_with("mrk-") => {
            return Err(format!("the killed create-key --multi-region made {made}"));
        }
        (Cmd::CreateKey | Cmd::CreateMultiRegionKey, [made]) => {
            // The killed create-key's key is listed: it must work (material in the token).
            let out = r
                .run(&["encrypt", "--key-id", made, "--plaintext", "aGk="])
                .map_err(|e| format!("the killed create-key's key is listed but unusable: {e}"))?;
            if out["KeyId"] != key_arn(made).as_str() {
                return Err(format!("encrypt under {made} answered {out}"));
            }
        }
        (Cmd::CreateKeyPair, [made]) => {
            // Both halves must be there: the private one signs, the public one is exported.
            let out = r
                .run(&[
                    "sign",
                    "--key-id",
                    made,
                    "--message",
                    "aGk=",
                    "--signing-algorithm",
                    "ECDSA_SHA_256",
                ])
                .map_err(|e| {
                    format!("the killed create-key's pair is listed but cannot sign: {e}")
                })?;
            if out["KeyId"] != key_arn(made).as_str() || out["Signature"].as_str().is_none() {
                return Err(format!("sign under {made} answered {out}"));
            }
            let out = r
                .run(&["get-public-key", "--key-id", made])
                .map_err(|e| format!("the killed create-key's public half is missing: {e}"))?;
            if out["KeySpec"] != "ECC_NIST_P256" {
                return Err(format!("get-public-key of {made} answered {out}"));
            }
        }
        _ => return Err(format!("keys nobody acknowledged are listed: {extra:?}")),
    }

    // Every acknowledged ciphertext decrypts; k1 (through its alias) encrypts.
    r.decrypts(&w.root.join("ct1"), Some("purpose=ct1"), PLAIN1, &w.k1)?;
    r.decrypts(&w.root.join("ct1b"), Some("purpose=ct1b"), PLAIN1B, &w.k1)?;
    let out = r.run(&["encrypt", "--key-id", "alias/app", "--plaintext", "aGk="])?;
    if out["KeyId"] != key_arn(&w.k1).as_str() {
        return Err(format!("alias/app no longer names k1: {out}"));
    }
    // k2: usable, unless the killed command was its deletion and it took effect.
    match r.decrypts(&w.root.join("ct2"), Some("purpose=ct2"), PLAIN2, &w.k2) {
        Ok(()) => {
            r.run(&["encrypt", "--key-id", &w.k2, "--plaintext", "aGk="])?;
        }
        Err(e) if cmd == Cmd::ScheduleKeyDeletion => {
            let pending = format!(
                "An error occurred (KMSInvalidStateException) when calling the Decrypt operation: {} is pending deletion.",
                key_arn(&w.k2)
            );
            if !e.ends_with(&pending) {
                return Err(format!("k2 neither usable nor pending deletion: {e}"));
            }
            let md = r.run(&["describe-key", "--key-id", &w.k2])?;
            if md["KeyMetadata"]["KeyState"] != "PendingDeletion"
                || md["KeyMetadata"]["PendingDeletionWindowInDays"] != 7
            {
                return Err(format!("k2 half scheduled for deletion: {md}"));
            }
        }
        Err(e) => return Err(e),
    }

    // The acknowledged policy (or, for the killed put-key-policy, the new one whole).
    let got = r.run(&["get-key-policy", "--key-id", &w.k1])?;
    let policy = got["Policy"].as_str().unwrap_or_default();
    if policy != w.policy1 && !(cmd == Cmd::PutKeyPolicy && policy == w.policy2) {
        return Err(format!("k1's policy is not an acknowledged one: {got}"));
    }

    // The acknowledged grant (and at most the killed create-grant's, whole).
    let grants = r.run(&["list-grants", "--key-id", &w.k1])?;
    let grants = grants["Grants"]
        .as_array()
        .ok_or("list-grants printed no Grants")?;
    let mut names = BTreeMap::new();
    for g in grants {
        names.insert(g["Name"].as_str().unwrap_or_default().to_owned(), g.clone());
    }
    let before = names
        .get("before")
        .ok_or("the acknowledged grant is gone")?;
    if before["GrantId"] != w.grant1.as_str()
        || before["GranteePrincipal"] != WORKER
        || before["Operations"] != serde_json::json!(["Decrypt", "Encrypt"])
    {
        return Err(format!("the acknowledged grant changed: {before}"));
    }
    match (cmd, names.get("during")) {
        (_, None) if names.len() == 1 => {}
        (Cmd::CreateGrant, Some(g))
            if names.len() == 2
                && g["GranteePrincipal"] == APP
                && g["Operations"] == serde_json::json!(["Decrypt"]) => {}
        _ => return Err(format!("grants nobody acknowledged: {grants:?}")),
    }

    // k3 waits for its material, or (the killed import took effect) has it whole: the
    // ciphertext sealed outside with that material decrypts, and it encrypts.
    let md = r.run(&["describe-key", "--key-id", &w.k3])?;
    match md["KeyMetadata"]["KeyState"].as_str() {
        Some("PendingImport") => {
            let e = r
                .run(&["encrypt", "--key-id", &w.k3, "--plaintext", "aGk="])
                .err()
                .unwrap_or_default();
            if !e.ends_with(&format!("{} is pending import.", key_arn(&w.k3))) {
                return Err(format!("k3 is PendingImport but encrypt answered: {e}"));
            }
        }
        Some("Enabled") if cmd == Cmd::ImportKeyMaterial => {
            r.decrypts(&w.root.join("ct3"), None, PLAIN3, &w.k3)?;
            r.run(&["encrypt", "--key-id", &w.k3, "--plaintext", "aGk="])?;
        }
        _ => return Err(format!("k3 is in a state nobody acknowledged: {md}")),
    }

    check_family(w, r, cmd)?;

    // Command-specific: the rotation and the alias, whole or absent.
    match cmd {
        Cmd::RotateKeyOnDemand => {
            let r = r.run(&["list-key-rotations", "--key-id", &w.k1])?;
            let n = r["Rotations"].as_array().map_or(0, Vec::len);
            if n != 1 && n != 2 {
                return Err(format!("k1 should have 1 or 2 rotations: {r}"));
            }
        }
        Cmd::CreateAlias => {
            let a = r.run(&["list-aliases"])?;
            let mut found = BTreeMap::new();
            for e in a["Aliases"]
                .as_array()
                .ok_or("list-aliases printed no Aliases")?
            {
                found.insert(
                    e["AliasName"].as_str().unwrap_or_default().to_owned(),
                    e["TargetKeyId"].as_str().unwrap_or_default().to_owned(),
                );
            }
            if found.get("alias/app") != Some(&w.k1)
                || found.get("alias/new").is_some_and(|t| *t != w.k2)
                || found.len() > 2
            {
                return Err(format!("aliases are not the acknowledged ones: {a}"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// After a kill in `audit prune` (the server of `check` still running, so this goes through
/// its admin socket): the log verifies, and every entry is in the store or in a segment file
/// that verifies: the files start at entry 0 and end with the seal the store starts with.
fn check_pruned(home: &Path) -> Result<(), String> {
    let dir = home.join("audit-export");
    // Killed before it made the export directory: nothing was pruned (checked below: the
    // store must say so).
    let out = if dir.exists() {
        run(
            home,
            &["audit", "verify", "--exported", &dir.display().to_string()],
        )
    } else {
        run(home, &["audit", "verify"])
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "audit verify --exported after the kill: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let pruned = text
        .split_once("Pruned: entries before seq ")
        .and_then(|(_, r)| r.split(|c: char| !c.is_ascii_digit()).next())
        .map(str::to_owned);
    // The files hold 0 to at least the kept seal (further when the kill came between a
    // file and its removal; verify checked that they agree with the store there).
    let exported_to = text
        .split_once(", seq 0 to ")
        .and_then(|(_, r)| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u64>().ok());
    if let Some(k) = pruned.and_then(|k| k.parse::<u64>().ok())
        && exported_to.is_none_or(|to| to < k)
    {
        return Err(format!(
            "the store was pruned before seq {k}, but the files do not hold 0 to {k}: {text}"
        ));
    }
    Ok(())
}

/// k4's family: every member describes the same family (the acknowledged one, or the killed
/// command's whole), and `ct4` decrypts in every member's Region.
fn check_family(w: &World, r: &Remote, cmd: Cmd) -> Result<(), String> {
    let describe = |region: &str| -> Result<(String, Vec<String>), String> {
        let md = r.run(&["--region", region, "describe-key", "--key-id", &w.k4])?;
        let f = &md["KeyMetadata"]["MultiRegionConfiguration"];
        let primary = f["PrimaryKey"]["Region"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let replicas = f["ReplicaKeys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|k| k["Region"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        Ok((primary, replicas))
    };
    let (primary, replicas) = describe(HOME_REGION)?;
    let members: Vec<String> = std::iter::once(primary.clone())
        .chain(replicas.iter().cloned())
        .collect();
    let acknowledged = primary == HOME_REGION && replicas == [REPLICA];
    let replicated =
        cmd == Cmd::ReplicateKey && primary == HOME_REGION && replicas == [NEW_REPLICA, REPLICA];
    let moved = cmd == Cmd::UpdatePrimaryRegion && primary == REPLICA && replicas == [HOME_REGION];
    if !(acknowledged || replicated || moved) {
        return Err(format!(
            "k4's family is not an acknowledged one: primary {primary}, replicas {replicas:?}"
        ));
    }
    for region in &members {
        let seen = describe(region)?;
        if seen != (primary.clone(), replicas.clone()) {
            return Err(format!(
                "k4's members disagree: {HOME_REGION} sees {:?}, {region} sees {seen:?}",
                (&primary, &replicas)
            ));
        }
        let back = r.cwd.join(format!("ct4.{region}.back"));
        let out = r.run(&[
            "--region",
            region,
            "decrypt",
            "--ciphertext-blob",
            &format!("fileb://{}", w.root.join("ct4").display()),
            "--encryption-context",
            "purpose=ct4",
            "--plaintext-out",
            &back.display().to_string(),
        ])?;
        let arn = format!("arn:aws:kms:{region}:000000000000:key/{}", w.k4);
        if out["KeyId"] != arn.as_str() {
            return Err(format!(
                "ct4 decrypted in {region} under another key: {out}"
            ));
        }
        if std::fs::read(&back).map_err(|e| e.to_string())? != PLAIN4 {
            return Err(format!("ct4 decrypted in {region} to something else"));
        }
    }
    // A Region outside the family has no member.
    if !members.iter().any(|m| m == NEW_REPLICA)
        && r.run(&["--region", NEW_REPLICA, "describe-key", "--key-id", &w.k4])
            .is_ok()
    {
        return Err(format!("{NEW_REPLICA} has a k4 its family does not list"));
    }
    Ok(())
}

/// One kill point: `cmd`, killed at the `n`-th call of `syscall` in some thread.
#[derive(Clone, Debug)]
struct Point {
    cmd: Cmd,
    syscall: String,
    n: usize,
}

/// One traced call: thread, system call, whether it is a creating `openat`, and the rest of
/// the line (arguments and result), to compare two runs' start-ups.
struct Call {
    tid: String,
    name: String,
    creating: bool,
    text: String,
}

/// Runs `cmd` once unkilled on a copy under `strace -f`, and returns its write-class calls.
fn trace(w: &World, cmd: Cmd, scratch: &Path) -> Vec<Call> {
    let dir = scratch.join(format!("trace-{cmd:?}"));
    std::fs::create_dir_all(&dir).unwrap();
    let home = w.copy_to(&dir);
    let file = dir.join("trace");
    let set: Vec<String> = w.syscalls().iter().map(|s| format!("?{s}")).collect();
    let out = strace(&home)
        .args(["-f", "-qq", "-o"])
        .arg(&file)
        .arg(format!("--trace={}", set.join(",")))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_lockbox"))
        .args(cmd.args(w))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed unkilled under strace: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut calls = Vec::new();
    // Opens seen so far, by path, and whether one truncated.
    let mut opened: BTreeMap<String, bool> = BTreeMap::new();
    for line in BufReader::new(std::fs::File::open(&file).unwrap()).lines() {
        let line = line.unwrap();
        let mut parts = line.splitn(2, ' ');
        let (Some(tid), Some(rest)) = (parts.next(), parts.next()) else {
            continue;
        };
        let rest = rest.trim_start();
        // "<... write resumed>" continues a call already counted; "+++"/"---" are events.
        let Some(open) = rest.find('(') else { continue };
        let name = &rest[..open];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let mut creating = false;
        if name == "openat" {
            let path = rest.split('"').nth(1).unwrap_or_default().to_owned();
            let truncates = rest.contains("O_TRUNC");
            // An O_CREAT open can change the directory only the first time the run opens
            // that path (later it exists), or the first time it truncates it (SoftHSM's
            // empty .lock files are the ones opened O_TRUNC again and again).
            creating = rest.contains("O_CREAT")
                && match opened.get(&path) {
                    None => true,
                    Some(truncated) => truncates && !truncated,
                };
            let t = opened.entry(path).or_insert(false);
            *t |= truncates;
        }
        calls.push(Call {
            tid: tid.to_owned(),
            name: name.to_owned(),
            creating,
            // Paths name the copy; make two copies' lines comparable.
            text: rest.replace(&home.display().to_string(), "HOME"),
        });
    }
    w.drop_copy(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    calls
}

/// The kill points of a traced run: for each system call S, every N from 1 to the largest
/// count of S in one thread (for `openat`, only the N where some thread's N-th `openat`
/// creates), except the N <= `skip[S]`.
fn points(cmd: Cmd, calls: &[Call], skip: &BTreeMap<String, usize>) -> Vec<Point> {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut creating_opens: BTreeSet<usize> = BTreeSet::new();
    for c in calls {
        let count = counts.entry((&c.name, &c.tid)).or_insert(0);
        *count += 1;
        if c.creating {
            creating_opens.insert(*count);
        }
    }
    let mut max: BTreeMap<&str, usize> = BTreeMap::new();
    for ((name, _), n) in counts {
        let m = max.entry(name).or_insert(0);
        *m = (*m).max(n);
    }
    let mut points = Vec::new();
    for (syscall, m) in max {
        let ns: Vec<usize> = if syscall == "openat" {
            creating_opens.iter().copied().collect()
        } else if SOCKET_SENDS.contains(&syscall) && std::env::var_os(ALL_SENDS).is_none() {
            // Every sixth send and the last: CI's time. A kill between two messages of one
            // transaction leaves what a kill at the next one leaves (nothing committed); the
            // full run (every send, `LOCKBOX_KILL_ALL_SENDS=1`) is measured in durability.md.
            (1..=m).filter(|n| n % 6 == 0 || *n == m).collect()
        } else {
            (1..=m).collect()
        };
        let from = skip.get(syscall).copied().unwrap_or(0);
        for n in ns.into_iter().filter(|n| *n > from) {
            points.push(Point {
                cmd,
                syscall: syscall.to_owned(),
                n,
            });
        }
    }
    points
}

/// Per system call, how many calls of the first thread `calls` shares, line for line, with
/// the start-up run `startup` (list-keys on the same directory): those kill points are the
/// start-up's, covered once under list-keys.
fn shared_startup(startup: &[Call], calls: &[Call]) -> BTreeMap<String, usize> {
    let main = |cs: &[Call]| -> Vec<(String, String)> {
        let Some(first) = cs.first() else {
            return Vec::new();
        };
        cs.iter()
            // Opens that create nothing are left out: their order follows the directory's.
            .filter(|c| c.tid == first.tid && (c.name != "openat" || c.creating))
            .map(|c| (c.name.clone(), c.text.clone()))
            .collect()
    };
    let mut skip = BTreeMap::new();
    for ((name, a), (_, b)) in main(startup).into_iter().zip(main(calls)) {
        if a != b {
            break;
        }
        *skip.entry(name).or_insert(0) += 1;
    }
    skip
}

/// `strace`, in the environment `lockbox` runs in on `home`.
fn strace(home: &Path) -> Command {
    in_env(Command::new("strace"), home)
}

enum Outcome {
    /// Killed, and everything acknowledged was there and worked afterwards.
    Survived,
    /// The command ran to its end: strace's count for that thread never reached `n`.
    NotReached,
    Failed(String),
}

fn kill_at(w: &World, p: &Point, dir: &Path) -> Outcome {
    std::fs::create_dir_all(dir).unwrap();
    let home = w.copy_to(dir);
    let out = strace(&home)
        .args(["-f", "-qq", "-o", "/dev/null"])
        .arg(format!("--inject={}:signal=KILL:when={}", p.syscall, p.n))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_lockbox"))
        .args(p.cmd.args(w))
        .output()
        .unwrap();
    let outcome = if out.status.signal() == Some(9) {
        let checked = Served::start(w, &home).and_then(|s| {
            check(w, &s.remote, p.cmd)?;
            if p.cmd == Cmd::PruneAudit {
                check_pruned(&home)?;
            }
            Ok(())
        });
        match checked {
            Ok(()) => Outcome::Survived,
            Err(e) => Outcome::Failed(e),
        }
    } else if out.status.success() {
        Outcome::NotReached
    } else {
        Outcome::Failed(format!(
            "the command neither died nor succeeded: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ))
    };
    if matches!(outcome, Outcome::Failed(_)) {
        // Kept for the report: the directory as the kill left it (and as the check changed it).
        let keep = dir.with_extension("failed");
        let _ = std::fs::rename(dir, keep);
    } else {
        w.drop_copy(dir);
        let _ = std::fs::remove_dir_all(dir);
    }
    outcome
}

/// Runs `points` on `threads` workers; returns (survived, not reached, failures).
fn run_points(w: &World, points: &[Point], threads: usize) -> (usize, usize, Vec<String>) {
    let next = AtomicUsize::new(0);
    let survived = AtomicUsize::new(0);
    let not_reached = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let scratch = w.root.join("points");
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = points.get(i) else { break };
                    match kill_at(w, p, &scratch.join(i.to_string())) {
                        Outcome::Survived => {
                            survived.fetch_add(1, Ordering::Relaxed);
                        }
                        Outcome::NotReached => {
                            not_reached.fetch_add(1, Ordering::Relaxed);
                        }
                        Outcome::Failed(e) => failures
                            .lock()
                            .unwrap()
                            .push(format!("{:?} killed at {} #{}: {e}", p.cmd, p.syscall, p.n)),
                    }
                }
            });
        }
    });
    (
        survived.into_inner(),
        not_reached.into_inner(),
        failures.into_inner().unwrap(),
    )
}

fn workers() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .clamp(1, 4)
}

#[test]
fn a_kill_at_every_write_class_system_call_loses_nothing_acknowledged() {
    strace_or_fail();
    let started = Instant::now();
    let w = World::prepare();
    kill_at_every_point(w, &ALL, started, "kill test");
}

/// The commands killed on the PostgreSQL world: start-up, and one of each kind of store
/// write: a new record after a token object (create-key), a read-modify-write of a record
/// (encrypt's count claim), a record with its tombstone (schedule-key-deletion), and a
/// write checked against another tree (create-alias). The others differ from one of these
/// only in what they do in the token and in which entries their one transaction touches;
/// the sled run covers them all, and so did the complete PostgreSQL run in durability.md
/// (rotate-key-on-demand, put-key-policy and create-grant too). This keeps CI's time.
const ON_POSTGRES: [Cmd; 5] = [
    Cmd::ListKeys,
    Cmd::CreateKey,
    Cmd::Encrypt,
    Cmd::ScheduleKeyDeletion,
    Cmd::CreateAlias,
];

/// The same kill test on a world whose metadata is in PostgreSQL (`[store] backend =
/// "postgres"`, issue 17): every kill point gets a fresh copy of the directory and of the
/// database; the system calls are the write-class set and the socket sends (docs/durability.md,
/// "Kill test on PostgreSQL").
#[test]
fn on_postgres_a_kill_at_every_write_class_system_call_loses_nothing_acknowledged() {
    strace_or_fail();
    let started = Instant::now();
    let w = World::prepare_pg();
    kill_at_every_point(w, &ON_POSTGRES, started, "kill test on PostgreSQL");
}

/// Traces each of `cmds` on `w`, kills it at each of its points, and fails if anything
/// acknowledged was lost.
fn kill_at_every_point(world: World, cmds: &[Cmd], started: Instant, what: &str) {
    let w = &world;
    let scratch = w.root.join("traces");
    let startup = trace(w, Cmd::ListKeys, &scratch);
    let mut all = Vec::new();
    let mut per_cmd = Vec::new();
    // `LOCKBOX_KILL_ONLY=PruneAudit,Encrypt` kills only those commands (by hand, when working
    // on one; CI kills all).
    let only = std::env::var("LOCKBOX_KILL_ONLY").ok();
    let cmds: Vec<Cmd> = cmds
        .iter()
        .copied()
        .filter(|c| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|n| n == format!("{c:?}")))
        })
        .collect();
    for &cmd in &cmds {
        let p = if cmd == Cmd::ListKeys {
            points(cmd, &startup, &BTreeMap::new())
        } else {
            let calls = trace(w, cmd, &scratch);
            points(cmd, &calls, &shared_startup(&startup, &calls))
        };
        let mut by_call: BTreeMap<&str, usize> = BTreeMap::new();
        for q in &p {
            *by_call.entry(q.syscall.as_str()).or_insert(0) += 1;
        }
        // Every command opens the directory and writes its audit record and seal: a handful
        // of points at least, or the tracing found nothing and the test would prove nothing.
        assert!(p.len() >= 10, "{cmd:?}: only {} kill points found", p.len());
        per_cmd.push(format!("{cmd:?} {} {by_call:?}", p.len()));
        all.extend(p);
    }
    let points = all;

    let (survived, not_reached, failures) = run_points(w, &points, workers());
    let killed = survived + failures.len();
    say!(
        "{what}: {} kill points, {killed} killed ({} lost something, {not_reached} ran to \
         completion instead), {:.0?} on {} workers",
        points.len(),
        failures.len(),
        started.elapsed(),
        workers()
    );
    for line in &per_cmd {
        say!("  {line}");
    }
    if !failures.is_empty() {
        let kept = world._root.keep();
        panic!(
            "{} of {} kill points lost something acknowledged (directories kept under {}):\n{}",
            failures.len(),
            points.len(),
            kept.display(),
            failures.join("\n")
        );
    }
    // A run nobody killed is no point; the enumeration is exact for the thread that does the
    // work, so these stay few (background threads' counts vary by timing).
    assert!(
        killed >= points.len() * 9 / 10,
        "only {killed} of {} points were reached",
        points.len()
    );
}

/// xorshift64*: a soak is replayed from the seed it prints.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("LOCKBOX_SOAK_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        say!("soak seed {seed} (LOCKBOX_SOAK_SEED={seed} replays the same choices)");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The random soak of the commands: `LOCKBOX_SOAK_POINTS` kills (default 2000), each at a
/// random write-class system call (any `openat` too) and a random N up to what the command
/// makes, on a fresh copy of the prepared directory, checked as the kill test checks.
#[test]
#[ignore = "soak, run by hand: see docs/durability.md, Kill test"]
fn soak_random_kills() {
    strace_or_fail();
    let started = Instant::now();
    let mut rng = Rng::from_env();
    let total = env_usize("LOCKBOX_SOAK_POINTS", 2000);
    let w = World::prepare();
    let scratch = w.root.join("traces");
    let mut menus = Vec::new();
    for cmd in ALL {
        let mut max: BTreeMap<String, usize> = BTreeMap::new();
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for c in trace(&w, cmd, &scratch) {
            let n = counts.entry((c.name.clone(), c.tid.clone())).or_insert(0);
            *n += 1;
            let m = max.entry(c.name.clone()).or_insert(0);
            *m = (*m).max(*n);
        }
        menus.push((cmd, max.into_iter().collect::<Vec<_>>()));
    }
    let points: Vec<Point> = (0..total)
        .map(|_| {
            let (cmd, menu) = &menus[rng.below(menus.len())];
            let (syscall, max) = &menu[rng.below(menu.len())];
            Point {
                cmd: *cmd,
                syscall: syscall.clone(),
                n: 1 + rng.below(*max),
            }
        })
        .collect();
    let (survived, not_reached, failures) = run_points(&w, &points, workers());
    let unopenable = failures
        .iter()
        .filter(|f| f.contains("the directory does not open"))
        .count();
    say!(
        "soak: {} random kill points: {survived} killed and checked, {not_reached} not reached; \
         {unopenable} directories unopenable, {} with something acknowledged lost; {:.0?}",
        points.len(),
        failures.len() - unopenable,
        started.elapsed()
    );
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for f in &failures {
        let kind = f.split_once(": ").map_or(f.as_str(), |(_, e)| e);
        *kinds.entry(kind.to_owned()).or_insert(0) += 1;
    }
    for (kind, n) in &kinds {
        say!("  {n} x {kind}");
    }
    for f in &failures {
        say!("  {f}");
    }
    if !failures.is_empty() {
        let kept = w._root.keep();
        panic!(
            "{} of {} points failed (directories kept under {})",
            failures.len(),
            points.len(),
            kept.display()
        );
    }
}

/// What the clients of the served soak were told succeeded.
#[derive(Clone)]
enum Ack {
    Key(String),
    Ciphertext {
        key: String,
        file: PathBuf,
        plain: Vec<u8>,
    },
}

struct Remote {
    endpoint: String,
    access_key: String,
    secret: String,
    cwd: PathBuf,
}

impl Remote {
    fn run(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .arg("--endpoint-url")
            .arg(&self.endpoint)
            .args(args)
            .current_dir(&self.cwd)
            .env("LOCKBOX_HOME", self.cwd.join("no-local-directory"))
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_REGION", "us-east-1")
            .env_remove("SOFTHSM2_CONF")
            .env_remove("LOCKBOX_CALLER")
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(format!(
                "lockbox {args:?} exited {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim_end()
            ));
        }
        if out.stdout.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("lockbox {args:?} printed no JSON ({e})"))
    }

    fn decrypts(
        &self,
        file: &Path,
        context: Option<&str>,
        plain: &[u8],
        key: &str,
    ) -> Result<(), String> {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let back = self.cwd.join(format!("{name}.back"));
        let blob = format!("fileb://{}", file.display());
        let out = back.display().to_string();
        let mut args = vec![
            "decrypt",
            "--ciphertext-blob",
            &blob,
            "--plaintext-out",
            &out,
        ];
        if let Some(c) = context {
            args.extend(["--encryption-context", c]);
        }
        let r = self.run(&args)?;
        if r["KeyId"] != key_arn(key).as_str() {
            return Err(format!("decrypted under another key: {r}"));
        }
        let got = std::fs::read(&back).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&back);
        if got != plain {
            return Err("decrypted to other bytes".into());
        }
        Ok(())
    }

    fn listed_keys(&self) -> Result<BTreeSet<String>, String> {
        Ok(self.run(&["list-keys"])?["Keys"]
            .as_array()
            .ok_or("list-keys printed no Keys")?
            .iter()
            .map(|k| k["KeyId"].as_str().unwrap_or_default().to_owned())
            .collect())
    }
}

/// A client that failed because the server went away (not a lost acknowledgement).
fn connection_error(e: &str) -> bool {
    [
        "connect",
        "Connection",
        "connection",
        "timed out",
        "Timeout",
        "reset",
        "closed",
        "EOF",
        "ThrottlingException",
    ]
    .iter()
    .any(|s| e.contains(s))
}

/// `lockbox serve` under load, SIGKILLed at random moments: `LOCKBOX_SOAK_ROUNDS` rounds
/// (default 100) of start, load from 4 clients (create-key, encrypt, decrypt through
/// `--endpoint-url`), SIGKILL after a random 0-1.5 s from the start (so start-up is hit too),
/// restart, and check: every acknowledged key listed, every ciphertext acknowledged since the
/// last check plus 20 older ones decrypts; at the end every acknowledged ciphertext.
#[test]
#[ignore = "soak, run by hand: see docs/durability.md, Kill test"]
fn soak_serve_under_load() {
    let started = Instant::now();
    let mut rng = Rng::from_env();
    let rounds = env_usize("LOCKBOX_SOAK_ROUNDS", 100);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let home = root.join("served");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let serve = |round: usize| {
        let log = std::fs::File::create(root.join(format!("serve-{round}.log"))).unwrap();
        Command::new(env!("CARGO_BIN_EXE_lockbox"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("LOCKBOX_HOME", &home)
            .env_remove("SOFTHSM2_CONF")
            .env_remove("LOCKBOX_CALLER")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let ready = |child: &mut std::process::Child, round: usize| -> Result<(), String> {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Some(st) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(root.join(format!("serve-{round}.log"))).unwrap();
                return Err(format!("the server exited {st}: {}", log.trim_end()));
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("the server did not listen within 30 s".into())
    };
    // Provision, and read the first credential.
    let mut child = serve(0);
    ready(&mut child, 0).unwrap();
    let creds = std::fs::read_to_string(home.join("credentials.toml")).unwrap();
    let field = |name: &str| {
        creds
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap()
            .to_owned()
    };
    let remote = Remote {
        endpoint: format!("http://127.0.0.1:{port}"),
        access_key: field("access_key_id"),
        secret: field("secret_access_key"),
        cwd: root.clone(),
    };
    let acked: Mutex<Vec<Ack>> = Mutex::new(Vec::new());
    let seeds: Vec<u64> = (0..rounds * 4).map(|_| rng.next()).collect();
    let mut checked_upto = 0;
    let (mut kills, mut unopenable, mut lost, mut requests) = (0usize, 0usize, Vec::new(), 0usize);
    // Kills that came before the server listened: in its start-up.
    let mut in_startup = 0usize;
    let requests_done = AtomicUsize::new(0);
    let served_errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let file_no = AtomicUsize::new(0);
    for round in 0..rounds {
        if round > 0 {
            child = serve(round);
        }
        let delay = Duration::from_millis(rng.next() % 1500);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for c in 0..4 {
                let (remote, acked, stop, file_no, requests_done, served_errors) = (
                    &remote,
                    &acked,
                    &stop,
                    &file_no,
                    &requests_done,
                    &served_errors,
                );
                let mut crng = Rng(seeds[round * 4 + c] | 1);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let pick = {
                            let a = acked.lock().unwrap();
                            if a.is_empty() {
                                None
                            } else {
                                Some(a[crng.below(a.len())].clone())
                            }
                        };
                        let op = crng.below(10);
                        match (op, pick) {
                            (0..=1, _) | (_, None) => {
                                if let Ok(v) = remote.run(&["create-key"]) {
                                    let k = v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
                                    acked.lock().unwrap().push(Ack::Key(k));
                                }
                            }
                            (2..=6, Some(Ack::Key(k) | Ack::Ciphertext { key: k, .. })) => {
                                let n = file_no.fetch_add(1, Ordering::Relaxed);
                                let file = remote.cwd.join(format!("ct-{n}"));
                                let plain = format!("plaintext {n}").into_bytes();
                                let r = remote.run(&[
                                    "encrypt",
                                    "--key-id",
                                    &k,
                                    "--plaintext",
                                    &base64_of(&plain),
                                    "--ciphertext-out",
                                    &file.display().to_string(),
                                ]);
                                if r.is_ok() {
                                    acked.lock().unwrap().push(Ack::Ciphertext {
                                        key: k,
                                        file,
                                        plain,
                                    });
                                }
                            }
                            (_, Some(Ack::Ciphertext { key, file, plain })) => {
                                match remote.decrypts(&file, None, &plain, &key) {
                                    Err(e) if !connection_error(&e) => {
                                        served_errors.lock().unwrap().push(format!(
                                            "round {round}: {} failed while served: {e}",
                                            file.display()
                                        ));
                                    }
                                    _ => {}
                                }
                            }
                            (_, Some(Ack::Key(_))) => {}
                        }
                        requests_done.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            std::thread::sleep(delay);
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                in_startup += 1;
            }
            child.kill().unwrap();
            stop.store(true, Ordering::Relaxed);
        });
        let _ = child.wait();
        kills += 1;
        // Restart and check what was acknowledged.
        child = serve(rounds + round);
        if let Err(e) = ready(&mut child, rounds + round) {
            unopenable += 1;
            say!("round {round}: unopenable: {e}");
            break;
        }
        let a = acked.lock().unwrap().clone();
        let listed = loop {
            match remote.listed_keys() {
                Ok(l) => break l,
                Err(e) if connection_error(&e) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => panic!("list-keys after round {round}: {e}"),
            }
        };
        let mut sample: Vec<usize> = (checked_upto..a.len()).collect();
        for _ in 0..20.min(checked_upto) {
            sample.push(rng.below(checked_upto));
        }
        for i in sample {
            match &a[i] {
                Ack::Key(k) if !listed.contains(k) => {
                    lost.push(format!("round {round}: key {k} not listed"))
                }
                Ack::Key(_) => {}
                Ack::Ciphertext { key, file, plain } => {
                    if let Err(e) = remote.decrypts(file, None, plain, key) {
                        lost.push(format!("round {round}: {}: {e}", file.display()));
                    }
                }
            }
        }
        checked_upto = a.len();
        let _ = child.kill();
        let _ = child.wait();
    }
    requests += requests_done.load(Ordering::Relaxed);
    lost.extend(served_errors.into_inner().unwrap());
    // Everything, once more, at the end.
    let mut child = serve(3 * rounds);
    let final_ok = ready(&mut child, 3 * rounds);
    let a = acked.lock().unwrap().clone();
    if final_ok.is_ok() {
        let listed = remote.listed_keys().unwrap();
        for ack in &a {
            match ack {
                Ack::Key(k) if !listed.contains(k) => lost.push(format!("end: key {k} not listed")),
                Ack::Key(_) => {}
                Ack::Ciphertext { key, file, plain } => {
                    if let Err(e) = remote.decrypts(file, None, plain, key) {
                        lost.push(format!("end: {}: {e}", file.display()));
                    }
                }
            }
        }
    } else {
        unopenable += 1;
    }
    let _ = child.kill();
    let _ = child.wait();
    let keys = a.iter().filter(|x| matches!(x, Ack::Key(_))).count();
    say!(
        "serve soak: {kills} SIGKILLs of lockbox serve under load from 4 clients ({in_startup} \
         before it listened; {requests} requests; {keys} keys and {} ciphertexts acknowledged); \
         {unopenable} unopenable, {} acknowledged items lost; {:.0?}",
        a.len() - keys,
        lost.len(),
        started.elapsed()
    );
    for l in &lost {
        say!("  {l}");
    }
    if unopenable > 0 || !lost.is_empty() {
        let kept = tmp.keep();
        panic!(
            "the served soak lost something (kept under {})",
            kept.display()
        );
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
