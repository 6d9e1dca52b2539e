//! The engine's configuration: the data directory, the token, and the ARN scope.
//!
//! A data directory holds `lockbox.toml` (this configuration), `metadata/` (the sled store,
//! unless `[store]` names a PostgreSQL database)
//! and, when Lockbox provisioned its own SoftHSM token, `softhsm/` and the PIN files.
//! Relative paths in `lockbox.toml` are relative to the data directory.
//!
//! ```toml
//! [token]
//! module = "/usr/lib/softhsm/libsofthsm2.so"   # the PKCS#11 module
//! label = "lockbox"                # or: serial = "..."
//! pin_file = "token-user.pin"      # or: pin_env = "LOCKBOX_PIN"
//! label_prefix = "lockbox"         # optional: namespace of this instance's objects
//! iv_generation = "host"           # optional: "host" (default) or "token"
//! softhsm_conf = "softhsm/softhsm2.conf"   # only for a SoftHSM token
//! max_idle_sessions = 32           # optional
//! replication_wait_ms = 2000       # optional: how long a key object another node created
//!                                  # is searched for before it is missing (0..=600000)
//! session_copies = true            # optional: new AES and HMAC keys copyable, used from
//!                                  # session-object copies (default: true with
//!                                  # softhsm_conf, else false)
//! max_session_copies = 4096        # optional: live copies at most, LRU (1..=1000000)
//!
//! [arn]                            # optional; these are the defaults
//! partition = "aws"
//! region = "us-east-1"             # the Region of the CLI's calls and of keys from
//!                                  # before Regions existed
//! account = "000000000000"
//! # regions = ["us-east-1", "eu-west-1"]   # the Regions served; default: every name of
//!                                  # AWS's Region form (^([a-z]+-){2,3}\d+$, <= 32 chars)
//!
//! [caller]                         # optional: who the CLI acts as (default: the account root)
//! principal = "arn:aws:iam::000000000000:root"
//!
//! [lifecycle]                      # optional; these are the defaults
//! max_encryptions_per_version = 1073741824   # 2^30; rotate before a version passes it
//! encryption_count_block = 4096    # encryptions counted durably ahead, per flush
//! orphan_grace_hours = 24          # unclaimed token objects are destroyed after this
//!
//! [audit]                          # optional; these are the defaults
//! durability = "batched"           # or "every-record": each call's record is flushed
//!                                  # before the call returns
//! batch_max_ms = 50                # batched: a record is written at most this late (1..=10000)
//! seal_every = 1000                # seal after this many records (1..=1000000)
//! seal_interval_ms = 60000         # and at least this often while records come
//!                                  # (100..=86400000)
//! # Requests a server refuses before the engine (bad signature, malformed, throttled, ...)
//! # are recorded one by one within these budgets, the rest counted in one summary entry
//! # per interval: at most (refusal_burst + refusals_per_second x seconds + summaries) x
//! # 1 KiB of log, 51 KiB + 5.1 KiB/s with these defaults.
//! refusals_per_second = 5.0        # all sources together (0..=10000)
//! refusal_burst = 50               # (1..=1000000)
//! refusals_per_source_per_second = 1.0   # one source address (0..=10000)
//! refusal_burst_per_source = 10    # (1..=1000000)
//! refusal_summary_interval_ms = 10000    # (100..=86400000)
//! refusal_max_sources = 4096       # source addresses tracked at once (1..=1000000)
//! # Retention (off unless one of these is set): sealed segments older than `retention`
//! # (a number and s, m, h or d), or beyond the newest `retention_records` entries, are
//! # exported to segment files in `export_dir` and removed from the store, by `lockbox
//! # maintain` (and `serve`'s maintenance) or `lockbox audit prune`.
//! # retention = "90d"
//! # retention_records = 10000000
//! # export_dir = "audit-export"     # relative to the data directory
//!
//! [store]                          # optional: the metadata store (default: sled in
//! backend = "postgres"             # metadata/); see `store_config` for PostgreSQL's keys
//! ```

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use lockbox_api::{ArnScope, Principal};
use lockbox_token::{IvGeneration, PinSource, TokenConfig, TokenSelector, softhsm};
use serde::Deserialize;

use crate::audit::{AuditConfig, Durability};
use crate::error::Error;
use crate::store_config::StoreConfig;

/// The configuration file's name inside a data directory.
pub const CONFIG_FILE: &str = "lockbox.toml";
/// The label of the SoftHSM token Lockbox provisions for itself.
pub const PROVISIONED_TOKEN_LABEL: &str = "lockbox";
pub(crate) const USER_PIN_FILE: &str = "token-user.pin";
pub(crate) const SO_PIN_FILE: &str = "token-so.pin";
pub(crate) const SOFTHSM_DIR: &str = "softhsm";

/// A checked configuration, ready for `Engine::open`.
#[derive(Clone, Debug)]
pub struct Config {
    /// The data directory (metadata lives in `metadata/` under it).
    pub data_dir: PathBuf,
    /// The token.
    pub token: TokenConfig,
    /// The partition and region ARNs name, and the default account (of the default caller,
    /// and of keys made before accounts existed).
    pub arn: ArnScope,
    /// The Regions served (`[arn] regions`); the `[arn]` Region always is.
    pub regions: Regions,
    /// Who the CLI acts as when it is not told otherwise (`[caller] principal`); by default
    /// the root of the `[arn]` account.
    pub default_caller: Principal,
    /// Rotation by use, and reconciliation.
    pub lifecycle: Lifecycle,
    /// The audit log: durability and sealing.
    pub audit: AuditConfig,
    /// The audit log's retention: which sealed segments are exported and pruned, and where
    /// their files go (`[audit] retention`, `retention_records`, `export_dir`).
    pub audit_retention: crate::audit::Retention,
    /// Where metadata lives (`[store]`): sled in `metadata/`, or a PostgreSQL database the
    /// nodes of a cluster share.
    pub store: StoreConfig,
}

/// The Regions an installation serves (`[arn] regions`). Whatever it says, the configured
/// `[arn] region` is served too.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Regions {
    /// Every name of AWS's Region form ([`lockbox_api::is_region_name`]): the default.
    #[default]
    AwsForm,
    /// Only these.
    Only(Vec<String>),
}

impl Regions {
    /// Whether `region` is one of them (the configured Region aside).
    pub fn serves(&self, region: &str) -> bool {
        match self {
            Regions::AwsForm => lockbox_api::is_region_name(region),
            Regions::Only(list) => list.iter().any(|r| r == region),
        }
    }

    /// The Regions served, as a refusal names them; `configured` is the `[arn]` Region.
    pub fn describe(&self, configured: &str) -> String {
        match self {
            Regions::AwsForm if lockbox_api::is_region_name(configured) => {
                "every Region name of AWS's form (such as us-east-1)".to_owned()
            }
            Regions::AwsForm => {
                format!("{configured} and every Region name of AWS's form (such as us-east-1)")
            }
            Regions::Only(list) => list.join(", "),
        }
    }
}

/// Random 96-bit IVs keep AES-GCM safe for at most 2^32 encryptions under one key.
pub const GCM_RANDOM_IV_BOUND: u64 = 1 << 32;

/// How keys age by use, and how reconciliation treats what it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    /// A material version is rotated away before it makes more encryptions than this
    /// (default 2^30, a quarter of the 2^32 bound for random IVs; at most 2^32).
    pub max_encryptions_per_version: u64,
    /// Encryptions are counted durably this many at a time, ahead of use: a crash makes the
    /// count too high by at most this much, never too low (default 4096).
    pub encryption_count_block: u64,
    /// A token object no record claims is destroyed once it has been seen unclaimed for this
    /// long (default 24 hours).
    pub orphan_grace: std::time::Duration,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            max_encryptions_per_version: 1 << 30,
            encryption_count_block: 4096,
            orphan_grace: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

impl Lifecycle {
    /// Checks the bounds; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=GCM_RANDOM_IV_BOUND).contains(&self.max_encryptions_per_version) {
            return Err(format!(
                "[lifecycle] max_encryptions_per_version must be between 1 and 2^32 \
                 ({GCM_RANDOM_IV_BOUND}), not {}",
                self.max_encryptions_per_version
            ));
        }
        if self.encryption_count_block == 0 {
            return Err("[lifecycle] encryption_count_block must be at least 1".into());
        }
        Ok(())
    }
}

/// The root principal of a scope's account.
/// Checks `[arn] regions`: one or more distinct names of AWS's Region form, the configured
/// `region` among them.
fn regions_list(list: Vec<String>, configured: &str) -> Result<Regions, String> {
    if list.is_empty() {
        return Err("[arn] regions must name at least one Region".into());
    }
    for (i, r) in list.iter().enumerate() {
        if !lockbox_api::is_region_name(r) {
            return Err(format!(
                "[arn] regions: {r:?} is not a Region name (AWS's form: two or three words of \
                 lowercase letters and a number, joined by '-', such as \"us-east-1\"; at most \
                 {} characters)",
                lockbox_api::MAX_REGION_LEN
            ));
        }
        if list[..i].contains(r) {
            return Err(format!("[arn] regions names {r:?} twice"));
        }
    }
    if !list.iter().any(|r| r == configured) {
        return Err(format!(
            "[arn] regions must include the configured region {configured:?} (the Region of \
             the CLI's calls and of keys made before Regions existed)"
        ));
    }
    Ok(Regions::Only(list))
}

fn root_of(scope: &ArnScope) -> Principal {
    match Principal::root(scope.partition(), scope.account()) {
        Ok(p) => p,
        // ArnScope checked the partition and account with the same rules Principal applies.
        Err(_) => unreachable!("a checked ARN scope makes a valid root principal"),
    }
}

/// Creates `dir` if needed and makes it 0700: the data directory is Lockbox's alone, whoever
/// created it and with whatever umask.
pub(crate) fn make_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |what: &str, e: std::io::Error| {
        Error::Config(format!("cannot {what} {}: {e}", dir.display()))
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail("create", e))?;
    let mode = fs::metadata(dir)
        .map_err(|e| fail("inspect", e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777),
            "the data directory was open to others; making it 0700");
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| fail("restrict", e))?;
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    token: TokenSection,
    arn: Option<ArnSection>,
    caller: Option<CallerSection>,
    lifecycle: Option<LifecycleSection>,
    audit: Option<AuditSection>,
    store: Option<crate::store_config::StoreSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditSection {
    durability: Option<String>,
    batch_max_ms: Option<u64>,
    seal_every: Option<u64>,
    seal_interval_ms: Option<u64>,
    refusals_per_second: Option<f64>,
    refusal_burst: Option<u32>,
    refusals_per_source_per_second: Option<f64>,
    refusal_burst_per_source: Option<u32>,
    refusal_summary_interval_ms: Option<u64>,
    refusal_max_sources: Option<usize>,
    retention: Option<String>,
    retention_records: Option<u64>,
    export_dir: Option<String>,
}

/// Retention off, segment files (when it is turned on) in `<data_dir>/audit-export`.
fn default_retention(data_dir: &Path) -> crate::audit::Retention {
    crate::audit::Retention {
        max_age: None,
        max_records: None,
        export_dir: data_dir.join("audit-export"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallerSection {
    principal: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LifecycleSection {
    max_encryptions_per_version: Option<u64>,
    encryption_count_block: Option<u64>,
    orphan_grace_hours: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenSection {
    module: PathBuf,
    label: Option<String>,
    serial: Option<String>,
    pin_file: Option<PathBuf>,
    pin_env: Option<String>,
    label_prefix: Option<String>,
    iv_generation: Option<String>,
    softhsm_conf: Option<PathBuf>,
    max_idle_sessions: Option<usize>,
    replication_wait_ms: Option<u64>,
    session_copies: Option<bool>,
    max_session_copies: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArnSection {
    partition: Option<String>,
    region: Option<String>,
    account: Option<String>,
    regions: Option<Vec<String>>,
}

impl Config {
    /// A configuration for `token`, with metadata under `data_dir` and default ARNs.
    pub fn new(data_dir: impl Into<PathBuf>, token: TokenConfig) -> Self {
        let data_dir = data_dir.into();
        Config {
            data_dir: data_dir.clone(),
            token,
            default_caller: root_of(&ArnScope::default()),
            arn: ArnScope::default(),
            regions: Regions::AwsForm,
            lifecycle: Lifecycle::default(),
            audit: AuditConfig::default(),
            audit_retention: default_retention(&data_dir),
            store: StoreConfig::Sled,
        }
    }

    /// Reads `<data_dir>/lockbox.toml`.
    pub fn load(data_dir: &Path) -> Result<Config, Error> {
        let path = data_dir.join(CONFIG_FILE);
        let text = fs::read_to_string(&path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(data_dir, &text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Parses the text of a `lockbox.toml` that lives in `data_dir`.
    pub fn parse(data_dir: &Path, text: &str) -> Result<Config, String> {
        let file: File = toml::from_str(text).map_err(|e| {
            // One line, with the line number, rather than toml's multi-line excerpt.
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(n) => format!("line {n}: {}", e.message().trim_end()),
                None => e.message().trim_end().to_owned(),
            }
        })?;
        let t = file.token;
        let rel = |p: PathBuf| if p.is_absolute() { p } else { data_dir.join(p) };
        let selector = match (t.label, t.serial) {
            (Some(l), None) => TokenSelector::Label(l),
            (None, Some(s)) => TokenSelector::Serial(s),
            _ => return Err("[token] needs exactly one of `label` and `serial`".into()),
        };
        let pin = match (t.pin_file, t.pin_env) {
            (Some(f), None) => PinSource::File(rel(f)),
            (None, Some(v)) => PinSource::Env(v),
            _ => return Err("[token] needs exactly one of `pin_file` and `pin_env`".into()),
        };
        let mut token = TokenConfig::new(rel(t.module), selector, pin);
        if let Some(p) = t.label_prefix {
            token.label_prefix = p;
        }
        token.iv_generation = match t.iv_generation.as_deref() {
            None | Some("host") => IvGeneration::Host,
            Some("token") => IvGeneration::Token,
            Some(other) => {
                return Err(format!(
                    "[token] iv_generation must be \"host\" or \"token\", not \"{other}\""
                ));
            }
        };
        token.softhsm_conf = t.softhsm_conf.map(rel);
        if let Some(n) = t.max_idle_sessions {
            token.max_idle_sessions = n;
        }
        if let Some(ms) = t.replication_wait_ms {
            if ms > 600_000 {
                return Err(format!(
                    "[token] replication_wait_ms must be at most 600000 (10 minutes), not {ms}"
                ));
            }
            token.replication_wait = std::time::Duration::from_millis(ms);
        }
        // On by default for SoftHSM, which limits no session objects and runs AES-GCM 2.7
        // times faster from one; off for any other token (decision 0036).
        token.session_copies = t.session_copies.unwrap_or(token.softhsm_conf.is_some());
        if let Some(n) = t.max_session_copies {
            if !(1..=1_000_000).contains(&n) {
                return Err(format!(
                    "[token] max_session_copies must be between 1 and 1000000, not {n}"
                ));
            }
            token.max_session_copies = n;
        }
        let d = ArnScope::default();
        let (arn, regions) = match file.arn {
            None => (d, Regions::AwsForm),
            Some(a) => {
                let arn = ArnScope::new(
                    a.partition.as_deref().unwrap_or(d.partition()),
                    a.region.as_deref().unwrap_or(d.region()),
                    a.account.as_deref().unwrap_or(d.account()),
                )
                .map_err(|e| format!("[arn] {}", e.message()))?;
                let regions = match a.regions {
                    None => Regions::AwsForm,
                    Some(list) => regions_list(list, arn.region())?,
                };
                (arn, regions)
            }
        };
        let mut lifecycle = Lifecycle::default();
        if let Some(l) = file.lifecycle {
            if let Some(n) = l.max_encryptions_per_version {
                lifecycle.max_encryptions_per_version = n;
            }
            if let Some(n) = l.encryption_count_block {
                lifecycle.encryption_count_block = n;
            }
            if let Some(h) = l.orphan_grace_hours {
                lifecycle.orphan_grace = std::time::Duration::from_secs(h.saturating_mul(3600));
            }
            lifecycle.check()?;
        }
        let default_caller = match file.caller {
            None => root_of(&arn),
            Some(c) => {
                Principal::parse(&c.principal).map_err(|e| format!("[caller] {}", e.message()))?
            }
        };
        let mut audit = AuditConfig::default();
        let mut audit_retention = default_retention(data_dir);
        if let Some(a) = &file.audit {
            if let Some(r) = &a.retention {
                audit_retention.max_age =
                    Some(crate::audit::parse_age(r).map_err(|e| format!("[audit] retention {e}"))?);
            }
            if let Some(n) = a.retention_records {
                if n == 0 {
                    return Err("[audit] retention_records must be at least 1".into());
                }
                audit_retention.max_records = Some(n);
            }
            if let Some(d) = &a.export_dir {
                let d = PathBuf::from(d);
                audit_retention.export_dir = if d.is_absolute() { d } else { data_dir.join(d) };
            }
        }
        if let Some(a) = file.audit {
            match a.durability.as_deref() {
                None => {}
                Some("batched") => audit.durability = Durability::Batched,
                Some("every-record") => audit.durability = Durability::EveryRecord,
                Some(other) => {
                    return Err(format!(
                        "[audit] durability must be \"batched\" or \"every-record\", not \"{other}\""
                    ));
                }
            }
            if let Some(ms) = a.batch_max_ms {
                audit.batch_max = std::time::Duration::from_millis(ms);
            }
            if let Some(n) = a.seal_every {
                audit.seal_every = n;
            }
            if let Some(ms) = a.seal_interval_ms {
                audit.seal_interval = std::time::Duration::from_millis(ms);
            }
            let r = &mut audit.refusals;
            if let Some(v) = a.refusals_per_second {
                r.per_second = v;
            }
            if let Some(v) = a.refusal_burst {
                r.burst = v;
            }
            if let Some(v) = a.refusals_per_source_per_second {
                r.per_source_per_second = v;
            }
            if let Some(v) = a.refusal_burst_per_source {
                r.per_source_burst = v;
            }
            if let Some(ms) = a.refusal_summary_interval_ms {
                r.summary_interval = std::time::Duration::from_millis(ms);
            }
            if let Some(v) = a.refusal_max_sources {
                r.max_sources = v;
            }
            audit.check()?;
        }
        let store = match file.store {
            None => StoreConfig::Sled,
            Some(s) => s.check(rel)?,
        };
        if matches!(store, StoreConfig::Postgres(_)) && lifecycle.orphan_grace.is_zero() {
            // A node could destroy a key another node created a moment ago and is about to
            // record (token first, metadata second).
            return Err("[lifecycle] orphan_grace_hours must be above 0 with [store] backend = \"postgres\": \
                        another node's new key is an orphan until its record is written"
                .into());
        }
        Ok(Config {
            regions,
            data_dir: data_dir.to_owned(),
            token,
            arn,
            default_caller,
            lifecycle,
            audit,
            audit_retention,
            store,
        })
    }

    /// Where a provisioned SoftHSM token of `data_dir` keeps its configuration. Processes
    /// that open it must run with `SOFTHSM2_CONF` set to this path.
    pub fn softhsm_conf_path(data_dir: &Path) -> PathBuf {
        softhsm::conf_path(&data_dir.join(SOFTHSM_DIR))
    }

    /// True when `data_dir` already has a configuration.
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join(CONFIG_FILE).exists()
    }

    /// The embedded default: loads the configuration of `data_dir`, or, if it has none,
    /// provisions it with a SoftHSM token of its own ([`Config::provision_softhsm`]).
    /// Returns the configuration and whether this call provisioned the directory.
    ///
    /// For a SoftHSM token, the process must run with `SOFTHSM2_CONF` naming the token's
    /// configuration; if it does not, this re-executes the current program with the variable
    /// set (see `lockbox_token::softhsm::ensure_conf_env`), so call it early in `main`.
    pub fn load_or_provision(data_dir: &Path) -> Result<(Config, bool), Error> {
        if Self::exists(data_dir) {
            let config = Self::load(data_dir)?;
            if let Some(conf) = &config.token.softhsm_conf {
                // A copied or restored directory must use its own token, not the original's.
                if softhsm::relocate_conf(conf)? {
                    tracing::info!(conf = %conf.display(),
                        "softhsm2.conf named another directory's tokens; now names this one's");
                }
                softhsm::ensure_conf_env(conf)?;
            }
            return Ok((config, false));
        }
        if softhsm::find_module().is_none() {
            return Err(Error::Config(format!(
                "{} has no {CONFIG_FILE} and SoftHSM2 is not installed: install it \
                 (Debian/Ubuntu: apt-get install -y softhsm2) for a development token, or write \
                 {} to point Lockbox at your HSM",
                data_dir.display(),
                data_dir.join(CONFIG_FILE).display(),
            )));
        }
        softhsm::ensure_conf_env(&Self::softhsm_conf_path(data_dir))?;
        Ok((Self::provision_softhsm(data_dir)?, true))
    }

    /// Development default: provisions `data_dir` with a SoftHSM token of its own (its own
    /// `softhsm2.conf` and token directory, PINs generated and stored 0600) and writes
    /// `lockbox.toml`. The process must run with `SOFTHSM2_CONF` =
    /// [`Config::softhsm_conf_path`] (see `lockbox_token::softhsm::ensure_conf_env`).
    pub fn provision_softhsm(data_dir: &Path) -> Result<Config, Error> {
        if Self::exists(data_dir) {
            return Err(Error::Config(format!(
                "{} is already provisioned",
                data_dir.display()
            )));
        }
        let module = softhsm::find_module().ok_or_else(|| {
            Error::Config(
                "SoftHSM2 is not installed (Debian/Ubuntu: apt-get install -y softhsm2), and \
                 there is no lockbox.toml naming another PKCS#11 module"
                    .into(),
            )
        })?;
        make_private_dir(data_dir)?;
        // Held while the token is made: a second process provisioning at the same moment
        // waits, then finds the directory provisioned.
        let _lock = crate::lock::DataDirLock::acquire(data_dir)?;
        if Self::exists(data_dir) {
            return Self::load(data_dir);
        }
        // Looked at under the lock: PIN files of a provisioning still running elsewhere are
        // waited for above, not mistaken for a half-finished one.
        if data_dir.join(USER_PIN_FILE).exists() {
            return Err(Error::Config(format!(
                "{} holds a half-finished provisioning (PIN files but no {CONFIG_FILE}); \
                 remove the directory and start again (`lockbox doctor` explains)",
                data_dir.display()
            )));
        }
        let data_dir = data_dir
            .canonicalize()
            .map_err(|e| Error::Config(format!("cannot resolve {}: {e}", data_dir.display())))?;
        let conf = softhsm::write_conf(&data_dir.join(SOFTHSM_DIR))?;
        softhsm::init_token(
            &module,
            &conf,
            PROVISIONED_TOKEN_LABEL,
            &data_dir.join(USER_PIN_FILE),
            &data_dir.join(SO_PIN_FILE),
        )?;
        let text = format!(
            "# Written by Lockbox when it provisioned this directory with a SoftHSM token.\n\
             # Point `module`, `label` (or `serial`) and the PIN at a real HSM to use one instead.\n\
             [token]\n\
             module = \"{module}\"\n\
             label = \"{PROVISIONED_TOKEN_LABEL}\"\n\
             pin_file = \"{USER_PIN_FILE}\"\n\
             softhsm_conf = \"{SOFTHSM_DIR}/softhsm2.conf\"\n",
            module = module.display(),
        );
        softhsm::write_private(&data_dir.join(CONFIG_FILE), text.as_bytes())?;
        Self::load(&data_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_hsm_configuration() {
        let c = Config::parse(
            Path::new("/var/lib/lockbox"),
            r#"
            [token]
            module = "/opt/safenet/lunaclient/lib/libCryptoki2_64.so"
            serial = "1234567"
            pin_env = "LUNA_PIN"
            label_prefix = "kms-prod"
            iv_generation = "token"
            replication_wait_ms = 5000
            [arn]
            region = "eu-west-3"
            account = "123456789012"
            "#,
        )
        .unwrap();
        assert_eq!(c.token.token, TokenSelector::Serial("1234567".into()));
        assert_eq!(c.token.pin, PinSource::Env("LUNA_PIN".into()));
        assert_eq!(c.token.iv_generation, IvGeneration::Token);
        assert_eq!(c.token.label_prefix, "kms-prod");
        assert_eq!(c.token.softhsm_conf, None);
        assert_eq!(c.token.replication_wait, std::time::Duration::from_secs(5));
        assert_eq!(
            (c.arn.partition(), c.arn.region(), c.arn.account()),
            ("aws", "eu-west-3", "123456789012")
        );
    }

    #[test]
    fn relative_paths_are_relative_to_the_data_directory() {
        let c = Config::parse(
            Path::new("/data"),
            "[token]\nmodule = \"lib/p11.so\"\nlabel = \"x\"\npin_file = \"pin\"\n",
        )
        .unwrap();
        assert_eq!(c.token.module, PathBuf::from("/data/lib/p11.so"));
        assert_eq!(c.token.pin, PinSource::File("/data/pin".into()));
        assert_eq!(
            c.token.replication_wait,
            lockbox_token::DEFAULT_REPLICATION_WAIT
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |t: &str| Config::parse(Path::new("/d"), t).unwrap_err();
        assert!(err("[token]\nmodule=\"m\"\npin_env=\"P\"\n").contains("`label` and `serial`"));
        assert!(err("[token]\nmodule=\"m\"\nlabel=\"l\"\n").contains("`pin_file` and `pin_env`"));
        let unknown = err("[token]\nmodule=\"m\"\nlabel=\"l\"\npin_env=\"P\"\npin=\"1234\"\n");
        assert!(
            unknown.starts_with("line 5: unknown field `pin`"),
            "{unknown}"
        );
        assert_eq!(unknown.lines().count(), 1);
        assert!(
            err("[token]\nmodule=\"m\"\nlabel=\"l\"\npin_env=\"P\"\niv_generation=\"x\"\n")
                .contains("iv_generation")
        );
        assert_eq!(
            err("[token]\nmodule=\"m\"\nlabel=\"l\"\npin_env=\"P\"\nreplication_wait_ms=600001\n"),
            "[token] replication_wait_ms must be at most 600000 (10 minutes), not 600001"
        );
        assert!(
            err("[token]\nmodule=\"m\"\nlabel=\"l\"\npin_env=\"P\"\n[arn]\naccount=\"12\"\n")
                .contains("12 digits")
        );
    }

    #[test]
    fn session_copies_default_on_for_softhsm_only_and_are_bounded() {
        let base = "[token]\nmodule=\"m\"\nlabel=\"l\"\npin_env=\"P\"\n";
        let c = Config::parse(Path::new("/d"), base).unwrap();
        assert!(
            !c.token.session_copies,
            "off for a token that is not SoftHSM"
        );
        assert_eq!(
            c.token.max_session_copies,
            lockbox_token::DEFAULT_MAX_SESSION_COPIES
        );
        let soft = format!("{base}softhsm_conf=\"s.conf\"\n");
        let c = Config::parse(Path::new("/d"), &soft).unwrap();
        assert!(c.token.session_copies, "on for SoftHSM");
        let c = Config::parse(Path::new("/d"), &format!("{soft}session_copies=false\n")).unwrap();
        assert!(!c.token.session_copies);
        let c = Config::parse(
            Path::new("/d"),
            &format!("{base}session_copies=true\nmax_session_copies=64\n"),
        )
        .unwrap();
        assert!(c.token.session_copies);
        assert_eq!(c.token.max_session_copies, 64);
        assert_eq!(
            Config::parse(Path::new("/d"), &format!("{base}max_session_copies=0\n")).unwrap_err(),
            "[token] max_session_copies must be between 1 and 1000000, not 0"
        );
        assert_eq!(
            Config::parse(Path::new("/d"), &format!("{base}session_copies=\"yes\"\n")).unwrap_err(),
            "line 5: invalid type: string \"yes\", expected a boolean"
        );
    }

    #[test]
    fn arn_regions_restrict_the_served_regions() {
        let base = "[token]\nmodule=\"m\"\nlabel=\"l\"\npin_env=\"P\"\n";
        let c = Config::parse(Path::new("/d"), base).unwrap();
        assert_eq!(c.regions, Regions::AwsForm);
        let c = Config::parse(
            Path::new("/d"),
            &format!("{base}[arn]\nregion=\"eu-west-1\"\nregions=[\"us-east-1\", \"eu-west-1\"]\n"),
        )
        .unwrap();
        assert_eq!(
            c.regions,
            Regions::Only(vec!["us-east-1".into(), "eu-west-1".into()])
        );
        assert!(c.regions.serves("us-east-1") && !c.regions.serves("ap-south-1"));
        let err =
            |t: &str| Config::parse(Path::new("/d"), &format!("{base}[arn]\n{t}\n")).unwrap_err();
        assert_eq!(
            err("regions=[]"),
            "[arn] regions must name at least one Region"
        );
        assert!(
            err("regions=[\"us-east-1\", \"Mars\"]")
                .starts_with("[arn] regions: \"Mars\" is not a Region name"),
        );
        assert_eq!(
            err("regions=[\"us-east-1\", \"us-east-1\"]"),
            "[arn] regions names \"us-east-1\" twice"
        );
        assert!(
            err("regions=[\"eu-west-1\"]")
                .starts_with("[arn] regions must include the configured region \"us-east-1\""),
        );
    }

    #[test]
    fn audit_retention_is_read_and_checked() {
        use std::time::Duration;
        let base = "[token]\nmodule=\"m\"\nlabel=\"l\"\npin_env=\"P\"\n";
        let c = Config::parse(Path::new("/d"), base).unwrap();
        assert_eq!(
            c.audit_retention,
            crate::audit::Retention {
                max_age: None,
                max_records: None,
                export_dir: "/d/audit-export".into()
            }
        );
        assert!(!c.audit_retention.is_set());
        let parse = |t: &str| Config::parse(Path::new("/d"), &format!("{base}[audit]\n{t}\n"));
        let c = parse("retention=\"90d\"\nretention_records=5000\nexport_dir=\"old\"").unwrap();
        assert_eq!(
            c.audit_retention.max_age,
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(c.audit_retention.max_records, Some(5000));
        assert_eq!(c.audit_retention.export_dir, Path::new("/d/old"));
        let c = parse("retention=\"12h\"\nexport_dir=\"/var/audit\"").unwrap();
        assert_eq!(
            c.audit_retention.max_age,
            Some(Duration::from_secs(12 * 3600))
        );
        assert_eq!(c.audit_retention.export_dir, Path::new("/var/audit"));
        for (text, secs) in [("30s", 30), ("5m", 300), ("1d", 86_400)] {
            assert_eq!(crate::audit::parse_age(text), Ok(Duration::from_secs(secs)));
        }
        for bad in ["90", "d", "0d", "1.5d", "-1d", "90y", "36501d", ""] {
            let e = parse(&format!("retention=\"{bad}\"")).unwrap_err();
            assert!(
                e.starts_with("[audit] retention must be a whole number"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            parse("retention_records=0").unwrap_err(),
            "[audit] retention_records must be at least 1"
        );
    }

    #[test]
    fn the_audit_section_is_read_and_checked() {
        let base = "[token]\nmodule=\"m\"\nlabel=\"l\"\npin_env=\"P\"\n";
        let c = Config::parse(Path::new("/d"), base).unwrap();
        assert_eq!(c.audit, AuditConfig::default());
        assert_eq!(c.audit.durability, Durability::Batched);
        assert_eq!(c.audit.batch_max, std::time::Duration::from_millis(50));
        let c = Config::parse(
            Path::new("/d"),
            &format!("{base}[audit]\ndurability=\"every-record\"\nseal_every=10\nseal_interval_ms=500\nbatch_max_ms=5\n"),
        )
        .unwrap();
        assert_eq!(c.audit.durability, Durability::EveryRecord);
        assert_eq!(c.audit.seal_every, 10);
        assert_eq!(c.audit.seal_interval, std::time::Duration::from_millis(500));
        assert_eq!(c.audit.batch_max, std::time::Duration::from_millis(5));
        let err =
            |t: &str| Config::parse(Path::new("/d"), &format!("{base}[audit]\n{t}\n")).unwrap_err();
        assert!(err("durability=\"sometimes\"").contains("[audit] durability"));
        assert!(err("batch_max_ms=0").contains("[audit] batch_max_ms"));
        assert!(err("seal_every=0").contains("[audit] seal_every"));
        assert!(err("seal_interval_ms=5").contains("[audit] seal_interval_ms"));
        assert!(err("refusals_per_second=-1.0").contains("[audit] refusals_per_second"));
        assert!(err("refusal_burst=0").contains("[audit] refusal_burst"));
        assert!(
            err("refusal_summary_interval_ms=1").contains("[audit] refusal_summary_interval_ms")
        );
        let c = Config::parse(
            Path::new("/d"),
            &format!(
                "{base}[audit]\nrefusals_per_second=0.5\nrefusal_burst=7\nrefusal_max_sources=9\n"
            ),
        )
        .unwrap();
        assert_eq!(
            (
                c.audit.refusals.per_second,
                c.audit.refusals.burst,
                c.audit.refusals.max_sources
            ),
            (0.5, 7, 9)
        );
        assert!(err("sealing=1").contains("unknown field"));
    }
}
