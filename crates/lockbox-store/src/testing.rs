//! Throwaway PostgreSQL clusters for tests (feature `test-support`).
//!
//! [`PgCluster::start`] makes a cluster of its own for one test: `initdb` into a fresh
//! temporary directory, `pg_ctl start` listening on a unix socket in that directory and on
//! `127.0.0.1` at a free port, then a login role `lockbox` with a random password and a
//! database `lockbox` it owns. Tests in one binary, and several test binaries, each start their
//! own and run in parallel; a start takes about 0.6 s alone and 1.5 s with four at once on two
//! cores (initdb is most of it). [`PgCluster::create_database`] gives a test a fresh database in
//! a shared cluster in about 0.1 s. [`PgCluster::restart`] (or [`PgCluster::stop`] then
//! [`PgCluster::start_again`]) stops the server as a crash would and starts it on the same port.
//!
//! Authentication: the role `lockbox` logs in with its password (SCRAM-SHA-256), over the
//! socket and over TCP, so tests exercise the password path the PostgreSQL backend uses;
//! [`PgCluster::url`] and [`PgCluster::tcp_url`] carry no password, [`PgCluster::password`]
//! gives it. The superuser `postgres` has no password and is trusted on the socket only
//! (the socket's directory is 0700, reachable by the cluster's owner and root alone);
//! [`PgCluster::admin_sql`] runs SQL as it, for what a test does behind the store's back
//! (terminate connections, inspect `pg_stat_activity`, create more databases).
//!
//! Server programs: `$LOCKBOX_PG_BINDIR` if set, else `pg_config --bindir` when that holds
//! `initdb`, else the newest `/usr/lib/postgresql/<major>/bin` (Debian and Ubuntu keep them
//! there, off `PATH`), else `PATH`. `tests/postgres/install-postgres.sh` installs them.
//!
//! Root: `initdb` and `postgres` refuse to run as root. When the test runs as root, the
//! directory is given to an unprivileged user (`$LOCKBOX_PG_USER`, default `postgres`, which
//! Debian's package creates) and `initdb` and `pg_ctl` run as that user through
//! `setpriv --reuid --regid --clear-groups` (no PAM session, unlike `runuser`); the temporary
//! directory's parent (`$TMPDIR`, default `/tmp`) must be searchable by that user. Otherwise
//! everything runs as the current user.
//!
//! The server runs with `fsync = off`: it loses nothing when its processes are killed (the
//! kernel keeps what was written), only when the machine loses power, which no test here does.
//! `synchronous_commit` stays on, so a commit acknowledged to a client is in the WAL before
//! the server is stopped with `-m immediate` ([`PgCluster::restart`]) and replayed after.
//!
//! Nothing is left behind. A watchdog, `sh` started with a pipe from the test process as its
//! standard input, waits for that pipe to close; then it stops the server
//! (`pg_ctl stop -m immediate`) and removes the directory. The pipe closes when the
//! [`PgCluster`] is dropped (a passing test, a panicking one: `Drop` closes it and waits for
//! the watchdog), and also when the test process dies in any way, SIGKILL included, or exits
//! with a cluster still alive in a `static`: the kernel closes the pipe, and the watchdog
//! (which ignores SIGHUP, SIGINT, SIGQUIT and SIGTERM, so a Ctrl-C on the test's terminal does
//! not take it down first) does the same cleanup, within moments. The server is a daemon
//! (`pg_ctl` detaches it), so it does not die with the test by itself; the watchdog is what
//! ties it to the test process. One gap remains: if the watchdog is killed too (a `kill -9` of
//! the test's whole process group), the server keeps running and the directory stays, until
//! `pg_ctl stop -D <dir>/data -m immediate` and `rm -rf <dir>` by hand (`ps` shows
//! `postgres -D /tmp/lockbox-pg-...`).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use lockbox_store::testing::PgCluster;
//!
//! let pg = PgCluster::start()?;
//! // e.g. postgres::Config::from_str(&pg.url())?.password(pg.password()).connect(NoTls)
//! pg.restart()?; // stop -m immediate, start again on the same port and directory
//! drop(pg); // server stopped, directory removed
//! # Ok(())
//! # }
//! ```

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use zeroize::Zeroizing;

/// The login role tests connect as; it owns [`DATABASE`].
pub const ROLE: &str = "lockbox";
/// The database created for the tests.
pub const DATABASE: &str = "lockbox";
/// The superuser, trusted on the unix socket only.
pub const SUPERUSER: &str = "postgres";

/// Names the directory holding `initdb`, `pg_ctl` and `postgres` (and `psql`).
pub const BINDIR_ENV: &str = "LOCKBOX_PG_BINDIR";
/// Names the unprivileged user the server runs as when the tests run as root.
pub const USER_ENV: &str = "LOCKBOX_PG_USER";

/// How long `pg_ctl` waits for the server to start or stop, in seconds.
const PG_CTL_TIMEOUT_SECS: &str = "60";
/// How many free ports to try when another process takes the one chosen first.
const PORT_ATTEMPTS: usize = 5;
/// Longest unix socket path (`sun_path` is 108 bytes on Linux, with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Why a throwaway cluster could not be started, stopped or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgClusterError {
    /// The server programs are not installed, or not where `$LOCKBOX_PG_BINDIR` says.
    #[error(
        "PostgreSQL's server programs not found ({0}); install them with tests/postgres/install-postgres.sh or set LOCKBOX_PG_BINDIR"
    )]
    NotInstalled(String),
    /// Running as root, and no unprivileged user to run the server as.
    #[error(
        "running as root, which initdb and postgres refuse, and the user to run them as is unusable: {0} (set LOCKBOX_PG_USER to another unprivileged user)"
    )]
    NoUnprivilegedUser(String),
    /// The temporary directory is unsuitable.
    #[error("temporary directory {path}: {reason}")]
    TempDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A PostgreSQL program exited with an error.
    #[error("{program} failed ({status}): {output}")]
    Command {
        /// The program and its first argument.
        program: String,
        /// How it exited.
        status: String,
        /// What it printed.
        output: String,
    },
    /// The server did not start; its log is included.
    #[error("the PostgreSQL server did not start: {reason}\n--- server log ---\n{log}")]
    Start {
        /// What `pg_ctl` said.
        reason: String,
        /// The server log of this attempt.
        log: String,
    },
    /// A database name that [`PgCluster::create_database`] does not accept.
    #[error(
        "invalid database name {0:?}: use 1 to 63 lowercase ASCII letters, digits and '_', not starting with a digit"
    )]
    InvalidName(String),
    /// An internal lock was poisoned by a panic in another thread.
    #[error("the cluster's control lock was poisoned by a panic")]
    Poisoned,
}

type Result<T> = std::result::Result<T, PgClusterError>;

/// A throwaway PostgreSQL cluster: its own directory, socket, port, role and database.
///
/// Dropping it stops the server and removes the directory (see the module docs for what
/// happens when the test process is killed instead).
pub struct PgCluster {
    dir: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    programs: Programs,
    run_as: Option<RunAs>,
    password: Zeroizing<String>,
    /// Whether the server is running; held while starting or stopping it.
    running: Mutex<bool>,
    /// Stops the server and removes `dir` when dropped or when this process dies.
    _watchdog: Watchdog,
}

impl fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCluster")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("run_as", &self.run_as)
            .finish_non_exhaustive()
    }
}

impl PgCluster {
    /// Makes a cluster (initdb), starts it, and creates the role [`ROLE`] with a random
    /// password and the database [`DATABASE`] it owns.
    pub fn start() -> Result<Self> {
        let programs = Programs::find()?;
        let run_as = RunAs::when_root()?;
        let dir = tempfile::Builder::new()
            .prefix("lockbox-pg-")
            .tempdir()
            .map_err(|source| PgClusterError::Io {
                context: format!(
                    "creating a temporary directory in {}",
                    std::env::temp_dir().display()
                ),
                source,
            })?
            .keep();
        // From here on the watchdog owns the directory: an error below drops it, and it
        // removes the directory (and stops a server started already).
        let watchdog = Watchdog::spawn(&dir, &programs.pg_ctl, run_as.as_ref())?;
        if dir.as_os_str().len() + "/.s.PGSQL.65535".len() > MAX_SOCKET_PATH {
            return Err(PgClusterError::TempDir {
                path: dir,
                reason: format!(
                    "too long for a unix socket path (at most {} bytes with the socket's name); set TMPDIR to a shorter directory",
                    MAX_SOCKET_PATH
                ),
            });
        }
        if let Some(user) = &run_as {
            std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid)).map_err(|source| {
                PgClusterError::Io {
                    context: format!("giving {} to user {}", dir.display(), user.name),
                    source,
                }
            })?;
            // initdb would say "Permission denied" among its chatter; say why first.
            let mut probe = user.command(Path::new("test"));
            probe.arg("-w").arg(&dir).arg("-a").arg("-x").arg(&dir);
            if output_of(probe, Path::new("/"), None, "test").is_err() {
                return Err(PgClusterError::TempDir {
                    reason: format!(
                        "user {} cannot reach it (every directory above it must be searchable by that user); set TMPDIR to one that is, such as /tmp",
                        user.name
                    ),
                    path: dir,
                });
            }
        }
        let mut password = Zeroizing::new([0u8; 16]);
        getrandom::fill(password.as_mut_slice()).map_err(|e| PgClusterError::Io {
            context: "drawing the role's password".into(),
            source: io::Error::other(e.to_string()),
        })?;
        let mut cluster = Self {
            data: dir.join("data"),
            log: dir.join("server.log"),
            dir,
            port: 0,
            programs,
            run_as,
            password: Zeroizing::new(hex::encode(password.as_slice())),
            running: Mutex::new(false),
            _watchdog: watchdog,
        };
        cluster.init()?;
        cluster.start_on_free_port()?;
        // The password goes in on psql's standard input, never on a command line.
        let sql = Zeroizing::new(format!(
            "CREATE ROLE {ROLE} LOGIN PASSWORD '{}';\nCREATE DATABASE {DATABASE} OWNER {ROLE};\n",
            cluster.password.as_str()
        ));
        cluster.admin_sql(&sql)?;
        Ok(cluster)
    }

    /// One cluster for the whole test process, started by the first call: for tests that each
    /// take a database of their own ([`Self::create_database`], named after the test) rather
    /// than a cluster. Do not stop or restart it: other tests use it. It is removed when the
    /// process exits (the watchdog sees the pipe close). If it failed to start, every call
    /// returns that failure's message.
    pub fn shared() -> std::result::Result<&'static PgCluster, String> {
        static SHARED: OnceLock<std::result::Result<PgCluster, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| PgCluster::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A libpq connection string (key=value form) for [`ROLE`] on [`DATABASE`] over the unix
    /// socket, without the password.
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    /// A libpq connection string for [`ROLE`] on `database` over the unix socket, without the
    /// password.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "host={} port={} user={ROLE} dbname={}",
            conninfo_value(&self.dir.to_string_lossy()),
            self.port,
            conninfo_value(database)
        )
    }

    /// A `postgresql://` URI for [`ROLE`] on [`DATABASE`] over TCP (`127.0.0.1`), without the
    /// password.
    pub fn tcp_url(&self) -> String {
        format!("postgresql://{ROLE}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The password of [`ROLE`].
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The TCP port on `127.0.0.1`; the socket in [`Self::socket_dir`] carries the same number.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the unix socket (the cluster's temporary directory).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The server's log so far (for a failing test's message).
    pub fn server_log(&self) -> String {
        read_lossy(&self.log)
    }

    /// The postmaster's process id, from `postmaster.pid`, while the server runs.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Whether the server is running (as far as this handle started and stopped it).
    pub fn is_running(&self) -> Result<bool> {
        Ok(*self.running.lock().map_err(|_| PgClusterError::Poisoned)?)
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: no checkpoint, crash recovery at
    /// the next start). Does nothing if it is stopped.
    pub fn stop(&self) -> Result<()> {
        let mut running = self.running.lock().map_err(|_| PgClusterError::Poisoned)?;
        if *running {
            self.pg_ctl_stop()?;
            *running = false;
        }
        Ok(())
    }

    /// Starts the server again on the same port and directory after [`Self::stop`]. Does
    /// nothing if it runs. Fails if another process took the port meanwhile.
    pub fn start_again(&self) -> Result<()> {
        let mut running = self.running.lock().map_err(|_| PgClusterError::Poisoned)?;
        if !*running {
            self.pg_ctl_start().map_err(StartFailure::into_error)?;
            *running = true;
        }
        Ok(())
    }

    /// Stops the server at once and starts it again on the same port and directory, as a
    /// crashed and restarted PostgreSQL: connections break, committed data stays.
    pub fn restart(&self) -> Result<()> {
        let mut running = self.running.lock().map_err(|_| PgClusterError::Poisoned)?;
        if *running {
            self.pg_ctl_stop()?;
            *running = false;
        }
        self.pg_ctl_start().map_err(StartFailure::into_error)?;
        *running = true;
        Ok(())
    }

    /// Runs SQL as the superuser on the `postgres` database (psql, the SQL on its standard
    /// input, stopping at the first error) and returns what it printed, tuples only,
    /// unaligned (`|` between columns, one row a line).
    pub fn admin_sql(&self, sql: &str) -> Result<String> {
        self.admin_sql_on("postgres", sql)
    }

    /// Creates a database owned by [`ROLE`] and returns its connection string (as
    /// [`Self::url_for`]): cheaper than a cluster of its own when a test needs a fresh store.
    pub fn create_database(&self, name: &str) -> Result<String> {
        let valid = (1..=63).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(PgClusterError::InvalidName(name.to_owned()));
        }
        self.admin_sql(&format!("CREATE DATABASE {name} OWNER {ROLE};\n"))?;
        Ok(self.url_for(name))
    }

    fn admin_sql_on(&self, database: &str, sql: &str) -> Result<String> {
        let port = self.port.to_string();
        let args: [&OsStr; 14] = [
            "-X".as_ref(),
            "-q".as_ref(),
            "-At".as_ref(),
            "-v".as_ref(),
            "ON_ERROR_STOP=1".as_ref(),
            "-h".as_ref(),
            self.dir.as_os_str(),
            "-p".as_ref(),
            port.as_ref(),
            "-U".as_ref(),
            SUPERUSER.as_ref(),
            "-d".as_ref(),
            database.as_ref(),
            "-f-".as_ref(),
        ];
        // psql connects as whoever runs it; the superuser is trusted on the socket, whose
        // directory only its owner and root can reach.
        self.run(&self.programs.psql, &args, false, Some(sql))
    }

    fn init(&self) -> Result<()> {
        let args: [&OsStr; 7] = [
            "--pgdata".as_ref(),
            self.data.as_os_str(),
            "--username=postgres".as_ref(),
            "--auth=trust".as_ref(),
            "--encoding=UTF8".as_ref(),
            "--locale=C".as_ref(),
            "--no-sync".as_ref(),
        ];
        self.run(&self.programs.initdb, &args, true, None)?;
        // Files initdb made belong to the server's user; opening them for writing (not
        // replacing them) keeps that owner.
        let dir = conf_string(&self.dir.to_string_lossy());
        let settings = format!(
            "\n# lockbox_store::testing::PgCluster\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = {dir}\n\
             unix_socket_permissions = 0700\n\
             fsync = off\n\
             shared_buffers = 16MB\n\
             max_connections = 100\n\
             log_line_prefix = '%m [%p] '\n"
        );
        write_file(&self.data.join("postgresql.conf"), &settings, true)?;
        let hba = format!(
            "# lockbox_store::testing::PgCluster\n\
             local all {SUPERUSER} trust\n\
             local all all scram-sha-256\n\
             host all all 127.0.0.1/32 scram-sha-256\n"
        );
        write_file(&self.data.join("pg_hba.conf"), &hba, false)
    }

    /// Starts the server on a port the kernel says is free, trying another if a different
    /// process binds it first.
    fn start_on_free_port(&mut self) -> Result<()> {
        let mut attempt = 1;
        loop {
            self.port = free_port()?;
            match self.pg_ctl_start() {
                Ok(()) => {
                    *self
                        .running
                        .get_mut()
                        .map_err(|_| PgClusterError::Poisoned)? = true;
                    return Ok(());
                }
                Err(StartFailure::PortTaken(_)) if attempt < PORT_ATTEMPTS => attempt += 1,
                Err(failure) => return Err(failure.into_error()),
            }
        }
    }

    fn pg_ctl_start(&self) -> std::result::Result<(), StartFailure> {
        let log_before = fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let port = format!("-p {}", self.port);
        let args: [&OsStr; 10] = [
            "start".as_ref(),
            "-D".as_ref(),
            self.data.as_os_str(),
            "-l".as_ref(),
            self.log.as_os_str(),
            "-w".as_ref(),
            "-t".as_ref(),
            PG_CTL_TIMEOUT_SECS.as_ref(),
            "-o".as_ref(),
            port.as_ref(),
        ];
        match self.run(&self.programs.pg_ctl, &args, true, None) {
            Ok(_) => Ok(()),
            Err(PgClusterError::Command { output, .. }) => {
                let log = read_lossy(&self.log)
                    .get(usize::try_from(log_before).unwrap_or(0)..)
                    .unwrap_or_default()
                    .to_owned();
                let taken = log.contains("Address already in use");
                let error = PgClusterError::Start {
                    reason: output,
                    log,
                };
                Err(if taken {
                    StartFailure::PortTaken(error)
                } else {
                    StartFailure::Other(error)
                })
            }
            Err(e) => Err(StartFailure::Other(e)),
        }
    }

    fn pg_ctl_stop(&self) -> Result<()> {
        let args: [&OsStr; 8] = [
            "stop".as_ref(),
            "-D".as_ref(),
            self.data.as_os_str(),
            "-m".as_ref(),
            "immediate".as_ref(),
            "-w".as_ref(),
            "-t".as_ref(),
            PG_CTL_TIMEOUT_SECS.as_ref(),
        ];
        self.run(&self.programs.pg_ctl, &args, true, None).map(drop)
    }

    /// Runs a PostgreSQL program in the cluster's directory, as the server's user if
    /// `as_server_user`, with no `PG*` variables from the test's environment, and returns its
    /// standard output.
    fn run(
        &self,
        program: &Path,
        args: &[&OsStr],
        as_server_user: bool,
        stdin: Option<&str>,
    ) -> Result<String> {
        let mut command = match (&self.run_as, as_server_user) {
            (Some(user), true) => user.command(program),
            _ => Command::new(program),
        };
        command.args(args);
        let name = format!(
            "{} {}",
            program.display(),
            args.first()
                .map(|a| a.to_string_lossy())
                .unwrap_or_default()
        );
        output_of(command, &self.dir, stdin, &name)
    }
}

/// Why a start failed: a port someone else took (worth another port) or anything else.
enum StartFailure {
    PortTaken(PgClusterError),
    Other(PgClusterError),
}

impl StartFailure {
    fn into_error(self) -> PgClusterError {
        match self {
            StartFailure::PortTaken(e) | StartFailure::Other(e) => e,
        }
    }
}

/// The programs the harness runs.
#[derive(Debug)]
struct Programs {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    psql: PathBuf,
}

impl Programs {
    fn find() -> Result<Self> {
        let bindir = match std::env::var_os(BINDIR_ENV) {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                if !dir.join("initdb").is_file() {
                    return Err(PgClusterError::NotInstalled(format!(
                        "{BINDIR_ENV}={} has no initdb",
                        dir.display()
                    )));
                }
                Some(dir)
            }
            None => pg_config_bindir().or_else(newest_debian_bindir),
        };
        let find = |name: &str| -> Result<PathBuf> {
            if let Some(path) = bindir
                .as_ref()
                .map(|d| d.join(name))
                .filter(|p| p.is_file())
            {
                return Ok(path);
            }
            on_path(name).ok_or_else(|| {
                PgClusterError::NotInstalled(format!(
                    "no {name} in {} nor on PATH",
                    bindir.as_ref().map_or(
                        "pg_config --bindir or /usr/lib/postgresql/*/bin".into(),
                        |d| d.display().to_string()
                    )
                ))
            })
        };
        // `postgres` itself is started by pg_ctl from its own directory; it must be there.
        let pg_ctl = find("pg_ctl")?;
        let postgres = pg_ctl.with_file_name("postgres");
        if !postgres.is_file() {
            return Err(PgClusterError::NotInstalled(format!(
                "no postgres beside {}",
                pg_ctl.display()
            )));
        }
        Ok(Self {
            initdb: find("initdb")?,
            pg_ctl,
            psql: find("psql")?,
        })
    }
}

/// `pg_config --bindir`, if that directory holds initdb (Debian's pg_config comes with libpq
/// and may name a version whose server is not installed).
fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    dir.join("initdb").is_file().then_some(dir)
}

/// The newest `/usr/lib/postgresql/<major>/bin` that holds initdb.
fn newest_debian_bindir() -> Option<PathBuf> {
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            // "15", or "9.6" before PostgreSQL 10.
            let mut parts = name.split('.').map(str::parse::<u32>);
            let version = (parts.next()?.ok()?, parts.next().unwrap_or(Ok(0)).ok()?);
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The unprivileged user the server runs as when the tests run as root.
#[derive(Debug)]
struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
}

impl RunAs {
    fn when_root() -> Result<Option<Self>> {
        if !rustix::process::geteuid().is_root() {
            return Ok(None);
        }
        let name = std::env::var(USER_ENV).unwrap_or_else(|_| "postgres".into());
        let id = |flag: &str| -> Result<u32> {
            let output = Command::new("id")
                .args([flag, name.as_str()])
                .stdin(Stdio::null())
                .output()
                .map_err(|source| PgClusterError::Io {
                    context: "running id".into(),
                    source,
                })?;
            if !output.status.success() {
                return Err(PgClusterError::NoUnprivilegedUser(format!(
                    "no user {name:?} (installing PostgreSQL's Debian package creates \"postgres\")"
                )));
            }
            String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse()
                .map_err(|_| {
                    PgClusterError::NoUnprivilegedUser(format!(
                        "id {flag} {name} printed no number"
                    ))
                })
        };
        let (uid, gid) = (id("-u")?, id("-g")?);
        if uid == 0 {
            return Err(PgClusterError::NoUnprivilegedUser(format!(
                "{name:?} has uid 0"
            )));
        }
        Ok(Some(Self { name, uid, gid }))
    }

    /// The command line that runs what follows it as this user, without root's
    /// supplementary groups.
    fn prefix(&self) -> [OsString; 5] {
        [
            "setpriv".into(),
            format!("--reuid={}", self.uid).into(),
            format!("--regid={}", self.gid).into(),
            "--clear-groups".into(),
            "--".into(),
        ]
    }

    /// `program` run as this user.
    fn command(&self, program: &Path) -> Command {
        let [setpriv, rest @ ..] = self.prefix();
        let mut command = Command::new(setpriv);
        command.args(rest).arg(program);
        command
    }
}

/// The process that stops the server and removes the directory once the pipe from this
/// process closes: at drop, or when this process dies.
struct Watchdog {
    stdin: Option<ChildStdin>,
    child: Child,
    dir: PathBuf,
}

/// `$1` the directory, `$2` pg_ctl, the rest the command prefix that runs pg_ctl as the
/// server's user (empty when not root). Signals a terminal sends its process group are
/// ignored, so the watchdog outlives a Ctrl-C'd test and cleans up after it.
const WATCHDOG_SCRIPT: &str = r#"trap '' HUP INT QUIT TERM PIPE
dir=$1; pg_ctl=$2; shift 2
while read -r _; do :; done
if [ -f "$dir/data/postmaster.pid" ]; then
    "$@" "$pg_ctl" stop -D "$dir/data" -m immediate -w -t 60 >/dev/null 2>&1
fi
rm -rf -- "$dir"
"#;

impl Watchdog {
    fn spawn(dir: &Path, pg_ctl: &Path, run_as: Option<&RunAs>) -> Result<Self> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("lockbox-pg-watchdog")
            .arg(dir)
            .arg(pg_ctl);
        if let Some(user) = run_as {
            command.args(user.prefix());
        }
        let mut child = command
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| {
                // Nobody else will remove it.
                let _ = fs::remove_dir_all(dir);
                PgClusterError::Io {
                    context: "starting the cleanup watchdog (sh)".into(),
                    source,
                }
            })?;
        Ok(Self {
            stdin: child.stdin.take(),
            child,
            dir: dir.to_owned(),
        })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Closing the pipe is the signal; wait until the server is stopped and the directory
        // gone, so a test that checks afterwards sees nothing left.
        drop(self.stdin.take());
        let _ = self.child.wait();
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago (the kernel's choice for port 0).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| PgClusterError::Io {
        context: "finding a free port on 127.0.0.1".into(),
        source,
    })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| PgClusterError::Io {
            context: "finding a free port on 127.0.0.1".into(),
            source,
        })
}

/// Runs `command` in `dir` with a clean PostgreSQL environment and returns its standard
/// output, or its output as the error if it failed.
fn output_of(mut command: Command, dir: &Path, stdin: Option<&str>, name: &str) -> Result<String> {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(key);
        }
    }
    command
        .current_dir(dir)
        .env("LC_ALL", "C")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let io_error = |source| PgClusterError::Io {
        context: format!("running {name}"),
        source,
    };
    let mut child = command.spawn().map_err(io_error)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // Small inputs: they fit the pipe, so writing before reading cannot block.
        pipe.write_all(text.as_bytes()).map_err(io_error)?;
    }
    let output = child.wait_with_output().map_err(io_error)?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    Err(PgClusterError::Command {
        program: name.to_owned(),
        status: output.status.to_string(),
        output: text.trim().to_owned(),
    })
}

/// Appends to (or replaces the contents of) a file the server's user owns, keeping owner and
/// mode.
fn write_file(path: &Path, text: &str, append: bool) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(|source| PgClusterError::Io {
            context: format!("opening {}", path.display()),
            source,
        })?;
    file.write_all(text.as_bytes())
        .map_err(|source| PgClusterError::Io {
            context: format!("writing {}", path.display()),
            source,
        })
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    match fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)) {
        Ok(_) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("({} unreadable: {e})", path.display()),
    }
}

/// A value in a libpq key=value connection string: bare when it can be, else single-quoted
/// with `\` and `'` escaped.
fn conninfo_value(value: &str) -> String {
    if !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\' || c == '=')
    {
        return value.to_owned();
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// A string in postgresql.conf: single-quoted, `'` doubled, `\` escaped.
fn conf_string(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_values_are_quoted_only_when_needed() {
        assert_eq!(conninfo_value("/tmp/lockbox-pg-x"), "/tmp/lockbox-pg-x");
        assert_eq!(conninfo_value("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(conninfo_value("it's"), r"'it\'s'");
        assert_eq!(conninfo_value(r"a\b"), r"'a\\b'");
        assert_eq!(conninfo_value("a=b"), "'a=b'");
        assert_eq!(conninfo_value(""), "''");
    }

    #[test]
    fn conf_strings_escape_quotes_and_backslashes() {
        assert_eq!(conf_string("/tmp/x"), "'/tmp/x'");
        assert_eq!(conf_string("it's"), "'it''s'");
        assert_eq!(conf_string(r"a\b"), r"'a\\b'");
    }
}
