//! The server's credentials file: which access key ids exist, their secrets, and the
//! principal each one speaks for.
//!
//! ```toml
//! [[credential]]
//! access_key_id = "LBKABCDEFGHIJKLMNOPQ"        # 20 characters: A-Z and 0-9
//! secret_access_key = "...40 characters..."     # A-Z, a-z, 0-9, '+' and '/'
//! principal = "arn:aws:iam::111122223333:user/admin"
//! ```
//!
//! The file holds secrets, so [`CredentialStore::load`] refuses one that its group or others
//! may read or write (mode must be 0600 or stricter), and [`CredentialStore::create`] writes
//! it with mode 0600 through a temporary file and a rename, so a crash leaves either the old
//! file or the new one. Secrets are [`SecretKey`]s: no `Debug`, no `Display`, zeroized on drop.
//!
//! Limitation: two `create` calls racing on the same file can lose one of the new entries
//! (each rewrites the file from what it read); the CLI runs one at a time.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use lockbox_api::{Principal, shorten};
use serde::Deserialize;
use zeroize::Zeroizing;

/// The length of an access key id in a credentials file (as AWS's).
pub const ACCESS_KEY_ID_LEN: usize = 20;
/// The length of a secret access key in a credentials file (as AWS's).
pub const SECRET_ACCESS_KEY_LEN: usize = 40;
/// The prefix of the access key ids [`CredentialStore::create`] makes.
pub const ACCESS_KEY_ID_PREFIX: &str = "LBK";

pub use lockbox_client::SecretKey;

/// One credential: an access key id, its secret, and the principal it authenticates as.
pub struct Credential {
    access_key_id: String,
    secret: SecretKey,
    principal: Principal,
}

impl Credential {
    /// A credential for tests and embedders. The access key id must be 1 to 128 ASCII letters
    /// and digits (AWS's own shape, so that it cannot break a SigV4 credential scope) and the
    /// secret must not be empty; the credentials file additionally fixes their lengths.
    pub fn new(
        access_key_id: &str,
        secret: SecretKey,
        principal: Principal,
    ) -> Result<Credential, CredentialError> {
        let bad = |message: String| CredentialError::Invalid {
            path: None,
            entry: 0,
            message,
        };
        if access_key_id.is_empty()
            || access_key_id.len() > 128
            || !access_key_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(bad(format!(
                "access_key_id '{}' must be 1 to 128 ASCII letters and digits",
                shorten(access_key_id)
            )));
        }
        if secret.expose_secret().is_empty() {
            return Err(bad(format!(
                "the secret of access key id '{access_key_id}' is empty"
            )));
        }
        Ok(Credential {
            access_key_id: access_key_id.to_owned(),
            secret,
            principal,
        })
    }

    /// The access key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The principal requests signed with this credential act as.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The secret: only the SigV4 verifier needs it.
    pub(crate) fn secret(&self) -> &SecretKey {
        &self.secret
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// The credentials a server accepts, by access key id.
pub struct CredentialStore {
    by_id: HashMap<String, Credential>,
}

impl CredentialStore {
    /// Reads and checks a credentials file. Refuses a file its group or others may read or
    /// write, entries with malformed ids, secrets or principals (the message names the entry
    /// by position and access key id, never the secret), duplicate ids and unknown fields.
    pub fn load(path: &Path) -> Result<CredentialStore, CredentialError> {
        let text = read_private(path)?;
        let entries = parse(path, &text)?;
        Self::from_entries(entries).map_err(|e| e.at(path))
    }

    /// A store holding `entries`; refuses two entries with the same access key id.
    pub fn from_entries(
        entries: impl IntoIterator<Item = Credential>,
    ) -> Result<CredentialStore, CredentialError> {
        let mut by_id = HashMap::new();
        for (i, c) in entries.into_iter().enumerate() {
            if by_id.contains_key(&c.access_key_id) {
                return Err(CredentialError::Invalid {
                    path: None,
                    entry: i + 1,
                    message: format!("access_key_id '{}' appears more than once", c.access_key_id),
                });
            }
            by_id.insert(c.access_key_id.clone(), c);
        }
        Ok(CredentialStore { by_id })
    }

    /// The credential with this access key id.
    pub fn get(&self, access_key_id: &str) -> Option<&Credential> {
        self.by_id.get(access_key_id)
    }

    /// The number of credentials.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when there are none (a server with no credentials refuses every request).
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Generates a credential for `principal` (random id and secret from the OS), appends it
    /// to the credentials file at `path` (creating the file if missing) and returns it. The
    /// existing file must load cleanly (permissions included); it is rewritten atomically
    /// with mode 0600, keeping its text (comments included) and adding the new entry at the
    /// end.
    pub fn create(path: &Path, principal: &Principal) -> Result<NewCredential, CredentialError> {
        let existing = match fs::symlink_metadata(path) {
            Ok(_) => Some(read_private(path)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(CredentialError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let store = match &existing {
            Some(text) => Self::from_entries(parse(path, text)?).map_err(|e| e.at(path))?,
            None => CredentialStore {
                by_id: HashMap::new(),
            },
        };
        let (access_key_id, secret) = loop {
            let (id, secret) = generate()?;
            // 85 random bits make a collision practically impossible; check anyway.
            if store.get(&id).is_none() {
                break (id, secret);
            }
        };
        let mut text = Zeroizing::new(String::with_capacity(
            existing.as_ref().map_or(0, |t| t.len()) + 256,
        ));
        match &existing {
            Some(old) => {
                text.push_str(old);
                if !old.is_empty() && !old.ends_with('\n') {
                    text.push('\n');
                }
                if !old.is_empty() {
                    text.push('\n');
                }
            }
            None => text.push_str(
                "# Lockbox server credentials: access key id -> secret, principal.\n\
                 # Keep this file mode 0600; `lockbox serve` refuses it otherwise.\n\n",
            ),
        }
        // Ids, secrets and principals are validated ASCII without quotes or backslashes, so
        // they go into TOML basic strings as they are.
        text.push_str("[[credential]]\naccess_key_id = \"");
        text.push_str(&access_key_id);
        text.push_str("\"\nsecret_access_key = \"");
        text.push_str(secret.expose_secret());
        text.push_str("\"\nprincipal = \"");
        text.push_str(&toml_escape(principal.arn()));
        text.push_str("\"\n");
        // Re-parse what we are about to write, so a bug here can never leave a file the
        // server then refuses.
        parse(path, &text)?;
        write_atomically(path, text.as_bytes())?;
        Ok(NewCredential {
            access_key_id,
            secret,
            principal: principal.clone(),
        })
    }
}

impl CredentialStore {
    /// The access key ids and principals of the credentials file at `path` (never a
    /// secret), sorted by access key id. The file must load cleanly.
    pub fn list(path: &Path) -> Result<Vec<(String, Principal)>, CredentialError> {
        let store = Self::load(path)?;
        let mut out: Vec<(String, Principal)> = store
            .by_id
            .values()
            .map(|c| (c.access_key_id.clone(), c.principal.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Removes the credential `access_key_id` from the file at `path`: the file is rewritten
    /// atomically (mode 0600) with the other credentials, in their order (comments other
    /// than the header are not kept). False, and nothing written, when there is no such
    /// credential.
    pub fn delete(path: &Path, access_key_id: &str) -> Result<bool, CredentialError> {
        let text = read_private(path)?;
        let entries = parse(path, &text)?;
        if !entries.iter().any(|c| c.access_key_id == access_key_id) {
            return Ok(false);
        }
        let mut out = Zeroizing::new(String::with_capacity(text.len()));
        out.push_str(
            "# Lockbox server credentials: access key id -> secret, principal.\n\
             # Keep this file mode 0600; `lockbox serve` refuses it otherwise.\n",
        );
        for c in entries.iter().filter(|c| c.access_key_id != access_key_id) {
            out.push_str("\n[[credential]]\naccess_key_id = \"");
            out.push_str(&c.access_key_id);
            out.push_str("\"\nsecret_access_key = \"");
            out.push_str(c.secret.expose_secret());
            out.push_str("\"\nprincipal = \"");
            out.push_str(&toml_escape(c.principal.arn()));
            out.push_str("\"\n");
        }
        parse(path, &out)?;
        write_atomically(path, out.as_bytes())?;
        Ok(true)
    }
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.by_id.keys().map(String::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("CredentialStore")
            .field("access_key_ids", &ids)
            .finish()
    }
}

/// A credential [`CredentialStore::create`] just made: show the secret to the operator once.
pub struct NewCredential {
    access_key_id: String,
    secret: SecretKey,
    principal: Principal,
}

impl NewCredential {
    /// The new access key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The new secret access key; [`SecretKey::expose_secret`] to print it once.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The principal it authenticates as.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

/// Why a credentials file could not be read, used or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The file could not be read or written.
    #[error("credentials file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Group or others may read or write the file.
    #[error(
        "credentials file {} has mode {mode:04o}: it holds secrets, so group and others must \
         have no access (chmod 600 {})",
        path.display(),
        path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("credentials file {}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line and column.
        message: String,
    },
    /// An entry is malformed or duplicates another.
    #[error("{}credential #{entry}: {message}", path.as_ref().map(|p| format!("credentials file {}: ", p.display())).unwrap_or_default())]
    Invalid {
        /// The file, when the entry came from one.
        path: Option<PathBuf>,
        /// The entry's position, from 1 (0 for one built in code).
        entry: usize,
        /// What is wrong (never the secret).
        message: String,
    },
    /// The operating system's random number generator failed.
    #[error("could not generate a credential: the system random number generator failed: {0}")]
    Random(String),
}

impl CredentialError {
    fn at(self, file: &Path) -> CredentialError {
        match self {
            CredentialError::Invalid {
                path: None,
                entry,
                message,
            } => CredentialError::Invalid {
                path: Some(file.to_owned()),
                entry,
                message,
            },
            other => other,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    credential: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    access_key_id: String,
    secret_access_key: String,
    principal: String,
}

/// Reads a file that must not be accessible to group or others.
fn read_private(path: &Path) -> Result<Zeroizing<String>, CredentialError> {
    let io = |source| CredentialError::Io {
        path: path.to_owned(),
        source,
    };
    let file = fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CredentialError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    // Pre-sized so the buffer holding secrets does not reallocate and leave copies behind.
    let mut text = Zeroizing::new(String::with_capacity(
        usize::try_from(meta.len()).unwrap_or(0) + 1,
    ));
    std::io::Read::read_to_string(&mut &file, &mut text).map_err(io)?;
    Ok(text)
}

fn parse(path: &Path, text: &str) -> Result<Vec<Credential>, CredentialError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| CredentialError::Syntax {
        path: path.to_owned(),
        // toml's message quotes the offending line, which may be a secret: keep only the
        // description and the position.
        message: syntax_message(text, &e),
    })?;
    let mut out = Vec::with_capacity(raw.credential.len());
    for (i, entry) in raw.credential.into_iter().enumerate() {
        let bad = |message: String| CredentialError::Invalid {
            path: Some(path.to_owned()),
            entry: i + 1,
            message,
        };
        let RawEntry {
            access_key_id: id,
            secret_access_key,
            principal,
        } = entry;
        let secret = SecretKey::new(secret_access_key);
        if !is_file_access_key_id(&id) {
            return Err(bad(format!(
                "access_key_id '{}' must be {ACCESS_KEY_ID_LEN} characters, uppercase \
                 letters and digits",
                shorten(&id)
            )));
        }
        if !is_file_secret(secret.expose_secret()) {
            return Err(bad(format!(
                "secret_access_key of access key id '{id}' must be {SECRET_ACCESS_KEY_LEN} \
                 characters: letters, digits, '+' and '/'"
            )));
        }
        let principal = Principal::parse(&principal).map_err(|e| {
            bad(format!(
                "principal of access key id '{id}': {}",
                e.message()
            ))
        })?;
        out.push(Credential {
            access_key_id: id,
            secret,
            principal,
        });
    }
    Ok(out)
}

fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let what = e.message();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what.to_owned(),
    }
}

fn is_file_access_key_id(id: &str) -> bool {
    id.len() == ACCESS_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn is_file_secret(s: &str) -> bool {
    s.len() == SECRET_ACCESS_KEY_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// A new access key id (the prefix, then 17 characters of RFC 4648 base32: 85 random bits)
/// and secret (30 random bytes in standard base64: 40 characters).
fn generate() -> Result<(String, SecretKey), CredentialError> {
    const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let rng = |e: getrandom::Error| CredentialError::Random(e.to_string());
    let mut id_bytes = [0u8; ACCESS_KEY_ID_LEN - ACCESS_KEY_ID_PREFIX.len()];
    getrandom::fill(&mut id_bytes).map_err(rng)?;
    let mut id = String::with_capacity(ACCESS_KEY_ID_LEN);
    id.push_str(ACCESS_KEY_ID_PREFIX);
    id.extend(
        id_bytes
            .iter()
            .map(|b| char::from(BASE32[usize::from(b & 31)])),
    );

    let mut raw = Zeroizing::new([0u8; SECRET_ACCESS_KEY_LEN / 4 * 3]);
    getrandom::fill(raw.as_mut()).map_err(rng)?;
    let mut secret = String::with_capacity(SECRET_ACCESS_KEY_LEN);
    base64::Engine::encode_string(
        &base64::engine::general_purpose::STANDARD,
        raw.as_ref(),
        &mut secret,
    );
    Ok((id, SecretKey::new(secret)))
}

fn toml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CredentialError> {
    let io = |source| CredentialError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path names no file",
        ))
    })?;
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).map_err(|e| CredentialError::Random(e.to_string()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", hex::encode(suffix)));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // The umask cannot widen 0600, but a pre-set default ACL could: set it explicitly.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const GOOD_ID: &str = "LBKAAAAAAAAAAAAAAAAA";
    const GOOD_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const ADMIN: &str = "arn:aws:iam::111122223333:user/admin";

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let p = dir.join("credentials.toml");
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn entry(id: &str, secret: &str, principal: &str) -> String {
        format!(
            "[[credential]]\naccess_key_id = \"{id}\"\nsecret_access_key = \"{secret}\"\n\
             principal = \"{principal}\"\n"
        )
    }

    #[test]
    fn loads_a_good_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            &format!(
                "# ops\n{}{}",
                entry(GOOD_ID, GOOD_SECRET, ADMIN),
                entry(
                    "LBKBBBBBBBBBBBBBBBB2",
                    GOOD_SECRET,
                    "arn:aws:iam::444455556666:root"
                )
            ),
            0o600,
        );
        let store = CredentialStore::load(&p).unwrap();
        assert_eq!(store.len(), 2);
        let c = store.get(GOOD_ID).unwrap();
        assert_eq!(c.access_key_id(), GOOD_ID);
        assert_eq!(c.principal().arn(), ADMIN);
        assert_eq!(c.secret().expose_secret(), GOOD_SECRET);
        assert_eq!(
            store
                .get("LBKBBBBBBBBBBBBBBBB2")
                .unwrap()
                .principal()
                .account(),
            "444455556666"
        );
        assert!(store.get("LBKCCCCCCCCCCCCCCCCC").is_none());
        // An empty file is a server that accepts nobody, not an error.
        let p = write(dir.path(), "", 0o400);
        assert!(CredentialStore::load(&p).unwrap().is_empty());
    }

    #[test]
    fn refuses_a_file_others_can_read_or_write_naming_path_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660] {
            let p = write(dir.path(), &entry(GOOD_ID, GOOD_SECRET, ADMIN), mode);
            let e = CredentialStore::load(&p).unwrap_err();
            assert!(
                matches!(e, CredentialError::Permissions { mode: m, .. } if m == mode),
                "{mode:o}: {e}"
            );
            let msg = e.to_string();
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(msg.contains(&format!("mode {mode:04o}")), "{msg}");
        }
    }

    #[test]
    fn refuses_malformed_entries_naming_them_and_never_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secret_like = "SECRETSECRETSECRETSECRETSECRETSECRETSEC!";
        for (text, want) in [
            (
                entry("lbkaaaaaaaaaaaaaaaaa", GOOD_SECRET, ADMIN),
                "credential #1: access_key_id 'lbkaaaaaaaaaaaaaaaaa' must be 20 characters",
            ),
            (
                entry("LBKAAAA", GOOD_SECRET, ADMIN),
                "credential #1: access_key_id 'LBKAAAA' must be 20",
            ),
            (
                entry(GOOD_ID, secret_like, ADMIN),
                "credential #1: secret_access_key of access key id 'LBKAAAAAAAAAAAAAAAAA' \
                 must be 40 characters",
            ),
            (
                entry(GOOD_ID, "short", ADMIN),
                "secret_access_key of access key id 'LBKAAAAAAAAAAAAAAAAA' must be 40",
            ),
            (
                format!(
                    "{}{}",
                    entry(GOOD_ID, GOOD_SECRET, ADMIN),
                    entry("LBKBBBBBBBBBBBBBBBBB", GOOD_SECRET, "arn:aws:iam::1:root")
                ),
                "credential #2: principal of access key id 'LBKBBBBBBBBBBBBBBBBB': \
                 'arn:aws:iam::1:root' is not a principal ARN: the account must be 12 digits",
            ),
            (
                format!(
                    "{}{}",
                    entry(GOOD_ID, GOOD_SECRET, ADMIN),
                    entry(GOOD_ID, GOOD_SECRET, ADMIN)
                ),
                "credential #2: access_key_id 'LBKAAAAAAAAAAAAAAAAA' appears more than once",
            ),
        ] {
            let p = write(dir.path(), &text, 0o600);
            let e = CredentialStore::load(&p).unwrap_err();
            assert!(matches!(e, CredentialError::Invalid { .. }), "{e}");
            let msg = e.to_string();
            assert!(msg.contains(want), "{msg}\nwanted: {want}");
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(
                !msg.contains(secret_like) && !msg.contains(GOOD_SECRET),
                "{msg}"
            );
        }
    }

    #[test]
    fn syntax_errors_give_the_position_but_not_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[[credential]]\naccess_key_id = \"{GOOD_ID}\"\nsecret_access_key = \"{GOOD_SECRET}\" x\n"
        );
        let p = write(dir.path(), &text, 0o600);
        let e = CredentialStore::load(&p).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, CredentialError::Syntax { .. }), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(!msg.contains(GOOD_SECRET), "{msg}");

        let p = write(
            dir.path(),
            &format!("{}region = \"x\"\n", entry(GOOD_ID, GOOD_SECRET, ADMIN)),
            0o600,
        );
        let msg = CredentialStore::load(&p).unwrap_err().to_string();
        assert!(msg.contains("unknown field `region`"), "{msg}");
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope.toml");
        let e = CredentialStore::load(&p).unwrap_err();
        assert!(matches!(&e, CredentialError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::NotFound));
        assert!(e.to_string().contains("nope.toml"));
    }

    #[test]
    fn create_makes_a_0600_file_then_appends_keeping_comments() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("creds.toml");
        let admin = Principal::parse(ADMIN).unwrap();
        let first = CredentialStore::create(&p, &admin).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        assert!(is_file_access_key_id(first.access_key_id()));
        assert!(first.access_key_id().starts_with(ACCESS_KEY_ID_PREFIX));
        assert!(is_file_secret(first.secret().expose_secret()));
        assert_eq!(first.principal(), &admin);

        let mut text = fs::read_to_string(&p).unwrap();
        text.push_str("# keep me\n");
        fs::write(&p, &text).unwrap();
        let bob = Principal::parse("arn:aws:iam::444455556666:role/app").unwrap();
        let second = CredentialStore::create(&p, &bob).unwrap();
        assert_ne!(first.access_key_id(), second.access_key_id());
        assert_ne!(
            first.secret().expose_secret(),
            second.secret().expose_secret()
        );
        assert!(fs::read_to_string(&p).unwrap().contains("# keep me\n"));

        let store = CredentialStore::load(&p).unwrap();
        assert_eq!(store.len(), 2);
        let c = store.get(second.access_key_id()).unwrap();
        assert_eq!(c.principal(), &bob);
        assert_eq!(c.secret().expose_secret(), second.secret().expose_secret());
        assert_eq!(
            store
                .get(first.access_key_id())
                .unwrap()
                .secret()
                .expose_secret(),
            first.secret().expose_secret()
        );
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn create_refuses_an_exposed_or_broken_file_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let admin = Principal::parse(ADMIN).unwrap();
        let p = write(dir.path(), &entry(GOOD_ID, GOOD_SECRET, ADMIN), 0o644);
        let e = CredentialStore::create(&p, &admin).err().unwrap();
        assert!(matches!(e, CredentialError::Permissions { .. }), "{e}");
        let p = write(dir.path(), "[[credential]]\n", 0o600);
        let e = CredentialStore::create(&p, &admin).err().unwrap();
        assert!(matches!(e, CredentialError::Syntax { .. }), "{e}");
        assert_eq!(fs::read_to_string(&p).unwrap(), "[[credential]]\n");
    }

    #[test]
    fn from_entries_refuses_duplicates_and_credential_new_checks_shapes() {
        let admin = Principal::parse(ADMIN).unwrap();
        let c = |id: &str| Credential::new(id, SecretKey::new("s".into()), admin.clone());
        assert!(c("AKIDEXAMPLE").is_ok());
        for bad in ["", "AKID/EXAMPLE", "AKID EXAMPLE", &"A".repeat(129)] {
            assert!(
                matches!(c(bad), Err(CredentialError::Invalid { .. })),
                "{bad}"
            );
        }
        let e = Credential::new("AKID", SecretKey::new(String::new()), admin.clone()).unwrap_err();
        assert!(
            e.to_string()
                .contains("secret of access key id 'AKID' is empty")
        );
        let e =
            CredentialStore::from_entries([c("AKID").unwrap(), c("AKID").unwrap()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "credential #2: access_key_id 'AKID' appears more than once"
        );
    }
}
