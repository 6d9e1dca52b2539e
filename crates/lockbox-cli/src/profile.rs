//! `--profile`, `~/.aws/config` and `~/.aws/credentials`, `AWS_ENDPOINT_URL[_KMS]`: where a
//! command goes and as whom, resolved as the AWS CLI (botocore) resolves them.
//!
//! - Profile: `--profile`, else `$AWS_PROFILE`, else `$AWS_DEFAULT_PROFILE`, else `default`.
//!   A named profile that neither file has is an error; a missing `default` is not.
//! - Endpoint: `--endpoint-url`, else `$AWS_ENDPOINT_URL_KMS`, else `$AWS_ENDPOINT_URL`, else
//!   the profile's `services` section's `kms` `endpoint_url`, else the profile's
//!   `endpoint_url`; none of the last four when `$AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` (or the
//!   profile's `ignore_configured_endpoint_urls`) is `true`.
//! - Region: `--region`, else `$AWS_REGION`, else `$AWS_DEFAULT_REGION`, else the profile's
//!   `region`.
//! - Credentials: `$AWS_ACCESS_KEY_ID` and `$AWS_SECRET_ACCESS_KEY` unless `--profile` was
//!   given (an explicit profile sets the environment's keys aside, as botocore does), else the
//!   profile's `aws_access_key_id` and `aws_secret_access_key` in the credentials file, else in
//!   the config file.
//! - Output: `--output`, else `$AWS_DEFAULT_OUTPUT`, else the profile's `output`.
//!
//! Files: `$AWS_CONFIG_FILE` (default `~/.aws/config`, sections `[default]` and
//! `[profile NAME]`) and `$AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`,
//! sections `[NAME]`). Their text is zeroized once read: the credentials file holds secrets.

use std::path::{Path, PathBuf};

use lockbox_client::SecretKey;
use zeroize::Zeroizing;

use crate::error::CliError;

/// One INI section: its name and its `key = value` lines (a value with indented lines below
/// it is a sub-section, kept as `key.sub`).
struct Section {
    name: String,
    values: Vec<(String, Zeroizing<String>)>,
}

impl Section {
    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// Reads an INI file as botocore's parser does: `[section]`, `key = value` (or `key: value`),
/// comments starting `#` or `;`, and a key with an empty value followed by indented
/// `sub = value` lines (the `services` sections' nesting). A missing file is empty; so is one
/// this user may not read when `lenient` (the default file of an implicit profile: a command
/// run as another user, with `$HOME` still the first user's, needs no profile to run).
fn read_ini(path: &Path, lenient: bool) -> Result<Vec<Section>, CliError> {
    let text = match std::fs::read(path) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if lenient && e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Ok(Vec::new());
        }
        Err(e) => {
            return Err(CliError::Setup(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    let text = std::str::from_utf8(&text)
        .map_err(|_| CliError::Setup(format!("cannot read {}: not UTF-8 text", path.display())))?;
    let mut sections: Vec<Section> = Vec::new();
    let mut parent: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with(' ') || raw.starts_with('\t');
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            sections.push(Section {
                name: name.trim().to_owned(),
                values: Vec::new(),
            });
            parent = None;
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err(CliError::Setup(format!(
                "{} line {}: a setting before any [section]",
                path.display(),
                n + 1
            )));
        };
        let Some(at) = trimmed.find(['=', ':']) else {
            return Err(CliError::Setup(format!(
                "{} line {}: expected `name = value`",
                path.display(),
                n + 1
            )));
        };
        let key = trimmed[..at].trim().to_owned();
        let value = Zeroizing::new(trimmed[at + 1..].trim().to_owned());
        match (&parent, indented) {
            (Some(p), true) => section.values.push((format!("{p}.{key}"), value)),
            _ => {
                parent = value.is_empty().then(|| key.clone());
                section.values.push((key, value));
            }
        }
    }
    Ok(sections)
}

/// What the environment, the flags and the profile settle for this run.
pub(crate) struct Resolved {
    pub(crate) endpoint_url: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) output: Option<String>,
    profile: String,
    explicit_profile: bool,
    credentials_file: PathBuf,
    config: Option<Section>,
}

/// The flags that take part.
pub(crate) struct Flags<'a> {
    pub(crate) profile: Option<&'a str>,
    pub(crate) endpoint_url: Option<&'a str>,
    pub(crate) region: Option<&'a str>,
}

fn file(env: &dyn Fn(&str) -> Option<String>, var: &str, default: &str) -> PathBuf {
    match env(var) {
        Some(p) => expand_home(env, &p),
        None => expand_home(env, default),
    }
}

fn expand_home(env: &dyn Fn(&str) -> Option<String>, p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), env("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Resolves the run's endpoint, region and output from `flags`, `env` (the environment, empty
/// values unset) and the config file. The credentials file is read only when credentials are
/// needed ([`Resolved::credentials`]).
pub(crate) fn resolve(
    flags: &Flags<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, CliError> {
    let get = |name: &str| env(name).filter(|v| !v.is_empty());
    let (profile, explicit_profile) = match flags.profile {
        Some(p) => (p.to_owned(), true),
        None => (
            get("AWS_PROFILE")
                .or_else(|| get("AWS_DEFAULT_PROFILE"))
                .unwrap_or_else(|| "default".to_owned()),
            false,
        ),
    };
    let config_file = file(&get, "AWS_CONFIG_FILE", "~/.aws/config");
    let credentials_file = file(&get, "AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials");
    let lenient = !explicit_profile && get("AWS_CONFIG_FILE").is_none();
    let mut sections = read_ini(&config_file, lenient)?;
    let wanted = if profile == "default" {
        "default".to_owned()
    } else {
        format!("profile {profile}")
    };
    let index = sections
        .iter()
        .rposition(|s| s.name == wanted || (profile == "default" && s.name == "profile default"));
    let services_name = index.and_then(|i| sections[i].get("services").map(str::to_owned));
    let services = match services_name {
        Some(name) => {
            let want = format!("services {name}");
            match sections.iter().rposition(|s| s.name == want) {
                Some(i) => Some(sections.swap_remove(i)),
                None => {
                    return Err(CliError::Setup(format!(
                        "{}: the profile ({profile}) is configured to use the services \
                         section but the \"{name}\" services configuration does not exist",
                        config_file.display()
                    )));
                }
            }
        }
        None => None,
    };
    let index = sections
        .iter()
        .rposition(|s| s.name == wanted || (profile == "default" && s.name == "profile default"));
    let config = index.map(|i| sections.swap_remove(i));
    if config.is_none() && profile != "default" {
        let in_credentials = read_ini(&credentials_file, false)?
            .iter()
            .any(|s| s.name == profile);
        if !in_credentials {
            return Err(CliError::Setup(format!(
                "The config profile ({profile}) could not be found (looked in {} and {})",
                config_file.display(),
                credentials_file.display()
            )));
        }
    }
    let setting = |key: &str| config.as_ref().and_then(|c| c.get(key)).map(str::to_owned);
    let ignore_configured = get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .or_else(|| setting("ignore_configured_endpoint_urls"))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let endpoint_url = match flags.endpoint_url {
        Some(e) => Some(e.to_owned()),
        None if ignore_configured => None,
        None => get("AWS_ENDPOINT_URL_KMS")
            .or_else(|| get("AWS_ENDPOINT_URL"))
            .or_else(|| {
                services
                    .as_ref()
                    .and_then(|s| s.get("kms.endpoint_url"))
                    .map(str::to_owned)
            })
            .or_else(|| setting("endpoint_url")),
    };
    let region = flags
        .region
        .map(str::to_owned)
        .or_else(|| get("AWS_REGION"))
        .or_else(|| get("AWS_DEFAULT_REGION"))
        .or_else(|| setting("region"));
    let output = get("AWS_DEFAULT_OUTPUT").or_else(|| setting("output"));
    Ok(Resolved {
        endpoint_url,
        region,
        output,
        profile,
        explicit_profile,
        credentials_file,
        config,
    })
}

impl Resolved {
    /// The access key and secret to sign with, as botocore finds them.
    pub(crate) fn credentials(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(String, SecretKey), CliError> {
        let get = |name: &str| env(name).filter(|v| !v.is_empty());
        if !self.explicit_profile
            && let (Some(id), Some(secret)) =
                (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY"))
        {
            return Ok((id, SecretKey::new(secret)));
        }
        let pair = |s: &Section| match (s.get("aws_access_key_id"), s.get("aws_secret_access_key"))
        {
            (Some(id), Some(secret)) => Some((id.to_owned(), SecretKey::new(secret.to_owned()))),
            _ => None,
        };
        let from_credentials = read_ini(&self.credentials_file, false)?
            .iter()
            .rev()
            .find(|s| s.name == self.profile)
            .and_then(pair);
        if let Some(found) = from_credentials.or_else(|| self.config.as_ref().and_then(pair)) {
            return Ok(found);
        }
        let why = if self.explicit_profile {
            format!(
                "the profile ({}) has no aws_access_key_id and aws_secret_access_key in {} \
                 or the config file",
                self.profile,
                self.credentials_file.display()
            )
        } else {
            let missing = if get("AWS_ACCESS_KEY_ID").is_none() {
                "AWS_ACCESS_KEY_ID"
            } else {
                "AWS_SECRET_ACCESS_KEY"
            };
            format!(
                "{missing} is not set, and the profile ({}) has no aws_access_key_id and \
                 aws_secret_access_key in {} or the config file",
                self.profile,
                self.credentials_file.display()
            )
        };
        Err(CliError::Setup(format!(
            "Unable to locate credentials: {why}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn files(config: &str, credentials: &str) -> (tempfile::TempDir, Vec<(&'static str, String)>) {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("config");
        let k = dir.path().join("credentials");
        std::fs::write(&c, config).unwrap();
        std::fs::write(&k, credentials).unwrap();
        let vars = vec![
            ("AWS_CONFIG_FILE", c.display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", k.display().to_string()),
        ];
        (dir, vars)
    }

    const CONFIG: &str = "[default]\nregion = eu-west-1\n\n[profile lab]\nregion = us-east-2\n\
        endpoint_url = http://127.0.0.1:7300\noutput = text\n# a comment\n\n\
        [profile svc]\nservices = local\n[services local]\nkms =\n  endpoint_url = http://svc:1\n";
    const CREDS: &str = "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n\
        [lab]\naws_access_key_id = AKIALAB\naws_secret_access_key = s2\n";

    fn flags(profile: Option<&str>) -> Flags<'_> {
        Flags {
            profile,
            endpoint_url: None,
            region: None,
        }
    }

    #[test]
    fn a_profile_gives_endpoint_region_output_and_keys() {
        let (_d, vars) = files(CONFIG, CREDS);
        let env = env_of(&vars);
        let r = resolve(&flags(Some("lab")), &env).ok().unwrap();
        assert_eq!(r.endpoint_url.as_deref(), Some("http://127.0.0.1:7300"));
        assert_eq!(r.region.as_deref(), Some("us-east-2"));
        assert_eq!(r.output.as_deref(), Some("text"));
        let (id, _) = r.credentials(&env).ok().unwrap();
        assert_eq!(id, "AKIALAB");
        let r = resolve(&flags(None), &env).ok().unwrap();
        assert_eq!(r.endpoint_url, None);
        assert_eq!(r.region.as_deref(), Some("eu-west-1"));
        assert_eq!(r.credentials(&env).ok().unwrap().0, "AKIADEFAULT");
        let r = resolve(&flags(Some("svc")), &env).ok().unwrap();
        assert_eq!(r.endpoint_url.as_deref(), Some("http://svc:1"));
    }

    #[test]
    fn environment_beats_files_but_not_an_explicit_profile() {
        let (_d, mut vars) = files(CONFIG, CREDS);
        vars.push(("AWS_ACCESS_KEY_ID", "AKIAENV".to_owned()));
        vars.push(("AWS_SECRET_ACCESS_KEY", "s3".to_owned()));
        vars.push(("AWS_ENDPOINT_URL", "http://global:1".to_owned()));
        vars.push(("AWS_PROFILE", "lab".to_owned()));
        let env = env_of(&vars);
        let r = resolve(&flags(None), &env).ok().unwrap();
        assert_eq!(r.endpoint_url.as_deref(), Some("http://global:1"));
        assert_eq!(r.region.as_deref(), Some("us-east-2"));
        assert_eq!(r.credentials(&env).ok().unwrap().0, "AKIAENV");
        let r = resolve(&flags(Some("lab")), &env).ok().unwrap();
        assert_eq!(r.credentials(&env).ok().unwrap().0, "AKIALAB");
        vars.push(("AWS_ENDPOINT_URL_KMS", "http://kms:1".to_owned()));
        let env = env_of(&vars);
        let r = resolve(&flags(None), &env).ok().unwrap();
        assert_eq!(r.endpoint_url.as_deref(), Some("http://kms:1"));
        vars.push(("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true".to_owned()));
        let env = env_of(&vars);
        let r = resolve(&flags(None), &env).ok().unwrap();
        assert_eq!(r.endpoint_url, None);
    }

    #[test]
    fn unknown_profiles_and_missing_keys_are_named() {
        let (_d, vars) = files(CONFIG, "");
        let env = env_of(&vars);
        let e = resolve(&flags(Some("nope")), &env)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("The config profile (nope) could not be found"),
            "{e}"
        );
        let r = resolve(&flags(Some("lab")), &env).ok().unwrap();
        let e = r.credentials(&env).err().unwrap().to_string();
        assert!(
            e.contains("Unable to locate credentials") && e.contains("(lab)"),
            "{e}"
        );
        let r = resolve(&flags(None), &env).ok().unwrap();
        let e = r.credentials(&env).err().unwrap().to_string();
        assert!(
            e.contains(
                "Unable to locate credentials: AWS_ACCESS_KEY_ID is not set, and the profile \
                 (default)"
            ),
            "{e}"
        );
    }
}
