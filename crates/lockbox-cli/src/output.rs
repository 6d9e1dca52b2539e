//! What the command prints: the JSON shapes `aws kms` prints (PascalCase fields, blobs in
//! base64, ISO-8601 dates, four-space indentation), raw bytes written to files, and the few
//! reports meant for people (`doctor`).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lockbox::api::{
    AliasListEntry, EncryptionContext, ExpirationModelType, GrantListEntry, KeyMetadata, Tag,
    Timestamp,
};
use serde::Serialize;
use serde_json::ser::{PrettyFormatter, Serializer};

use crate::error::CliError;

/// Prints `value` as the AWS CLI does. The formatted text may hold a base64 plaintext, so
/// its buffer is zeroized once written.
pub(crate) fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    // Sized for the largest answer (4096 bytes of plaintext in base64) so it never
    // reallocates and leaves a copy behind.
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(16 * 1024));
    let mut ser = Serializer::with_formatter(&mut *out, PrettyFormatter::with_indent(b"    "));
    value
        .serialize(&mut ser)
        .map_err(|e| CliError::Setup(format!("cannot format output: {e}")))?;
    out.push(b'\n');
    if crate::output_format::is_plain_json() {
        return emit(&out);
    }
    // --query, --output: as the AWS CLI applies them to the response.
    match crate::output_format::render(&out)? {
        Some(text) => emit(text.as_bytes()),
        None => Ok(()),
    }
}

/// Prints a human-readable report (`lockbox doctor`); a closed pipe is an error, not a panic.
pub(crate) fn print_text(text: &str) -> Result<(), CliError> {
    emit(text.as_bytes())
}

thread_local! {
    /// Set while [`capture`] runs a command for the admin socket: what it prints goes here.
    static CAPTURE: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Writes to standard output, or to the buffer of the [`capture`] running on this thread.
fn emit(bytes: &[u8]) -> Result<(), CliError> {
    let captured = CAPTURE.with(|c| match c.borrow_mut().as_mut() {
        Some(buf) => {
            buf.extend_from_slice(bytes);
            true
        }
        None => false,
    });
    if captured {
        return Ok(());
    }
    std::io::stdout()
        .write_all(bytes)
        .map_err(|e| CliError::Setup(format!("cannot write output: {e}")))
}

/// Standard output as a writer for output too long to format first (`audit export`), or
/// the buffer of the [`capture`] running on this thread.
pub(crate) enum Stdout {
    Terminal(std::io::StdoutLock<'static>),
    Captured,
}

impl Stdout {
    pub(crate) fn lock() -> Stdout {
        if CAPTURE.with(|c| c.borrow().is_some()) {
            Stdout::Captured
        } else {
            Stdout::Terminal(std::io::stdout().lock())
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stdout::Terminal(out) => out.write(buf),
            Stdout::Captured => {
                CAPTURE.with(|c| {
                    if let Some(b) = c.borrow_mut().as_mut() {
                        b.extend_from_slice(buf);
                    }
                });
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stdout::Terminal(out) => out.flush(),
            Stdout::Captured => Ok(()),
        }
    }
}

/// Runs `f` with what it prints through [`print_json`] and [`print_text`] kept, not printed
/// (a command run for a client of the admin socket); returns its result and that output.
pub(crate) fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<u8>) {
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let result = f();
    let out = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (result, out)
}

/// Base64, as blobs appear in JSON.
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// `2025-01-01T00:00:00.123000+00:00`, as the AWS CLI prints timestamps.
pub(crate) fn date(t: Timestamp) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.unix_millis()) * 1_000_000)
        .ok()
        .and_then(|d| d.format(&format).ok())
        .unwrap_or_else(|| t.unix_millis().to_string())
}

/// `KeyMetadata`, field for field as AWS names and orders it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct KeyMetadataOut {
    #[serde(rename = "AWSAccountId")]
    aws_account_id: String,
    key_id: String,
    arn: String,
    creation_date: String,
    enabled: bool,
    description: String,
    key_usage: &'static str,
    key_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_date: Option<String>,
    origin: &'static str,
    key_manager: &'static str,
    customer_master_key_spec: &'static str,
    key_spec: &'static str,
    // The algorithm lists that do not apply to the key's usage are absent, as the service
    // leaves them out (in botocore's member order).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    encryption_algorithms: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    signing_algorithms: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    key_agreement_algorithms: Vec<&'static str>,
    multi_region: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    multi_region_configuration: Option<MultiRegionConfigurationOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_deletion_window_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mac_algorithms: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_model: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_key_material_id: Option<String>,
}

/// `MultiRegionConfiguration`, as AWS names it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MultiRegionConfigurationOut {
    multi_region_key_type: &'static str,
    primary_key: MultiRegionKeyOut,
    replica_keys: Vec<MultiRegionKeyOut>,
}

/// `MultiRegionKey`, as AWS names it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MultiRegionKeyOut {
    arn: String,
    region: String,
}

impl From<&lockbox::api::MultiRegionKey> for MultiRegionKeyOut {
    fn from(k: &lockbox::api::MultiRegionKey) -> Self {
        MultiRegionKeyOut {
            arn: k.arn.to_string(),
            region: k.region.clone(),
        }
    }
}

impl From<&KeyMetadata> for KeyMetadataOut {
    fn from(m: &KeyMetadata) -> Self {
        KeyMetadataOut {
            aws_account_id: m.aws_account_id.clone(),
            key_id: m.key_id.to_string(),
            arn: m.arn.to_string(),
            creation_date: date(m.creation_date),
            enabled: m.enabled,
            description: m.description.clone(),
            key_usage: m.key_usage.as_str(),
            key_state: m.key_state.as_str(),
            deletion_date: m.deletion_date.map(date),
            origin: m.origin.as_str(),
            key_manager: m.key_manager.as_str(),
            customer_master_key_spec: m.key_spec.as_str(),
            key_spec: m.key_spec.as_str(),
            encryption_algorithms: m.encryption_algorithms.iter().map(|a| a.as_str()).collect(),
            signing_algorithms: m.signing_algorithms.iter().map(|a| a.as_str()).collect(),
            key_agreement_algorithms: m
                .key_agreement_algorithms
                .iter()
                .map(|a| a.as_str())
                .collect(),
            multi_region: m.multi_region,
            multi_region_configuration: m.multi_region_configuration.as_ref().map(|c| {
                MultiRegionConfigurationOut {
                    multi_region_key_type: c.multi_region_key_type.as_str(),
                    primary_key: MultiRegionKeyOut::from(&c.primary_key),
                    replica_keys: c.replica_keys.iter().map(MultiRegionKeyOut::from).collect(),
                }
            }),
            pending_deletion_window_in_days: m.pending_deletion_window_in_days,
            mac_algorithms: m.mac_algorithms.iter().map(|a| a.as_str()).collect(),
            valid_to: m.valid_to.map(date),
            expiration_model: m.expiration_model.map(ExpirationModelType::as_str),
            current_key_material_id: m.current_key_material_id.clone(),
        }
    }
}

/// `{"KeyMetadata": {...}}`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct KeyMetadataResponse {
    pub(crate) key_metadata: KeyMetadataOut,
}

/// A tag as JSON.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagOut {
    tag_key: String,
    tag_value: String,
}

impl From<&Tag> for TagOut {
    fn from(t: &Tag) -> Self {
        TagOut {
            tag_key: t.key().to_owned(),
            tag_value: t.value().to_owned(),
        }
    }
}

/// An alias as JSON.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AliasOut {
    alias_name: String,
    alias_arn: String,
    target_key_id: String,
    creation_date: String,
    last_updated_date: String,
}

impl From<&AliasListEntry> for AliasOut {
    fn from(a: &AliasListEntry) -> Self {
        AliasOut {
            alias_name: a.alias_name.to_string(),
            alias_arn: a.alias_arn.to_string(),
            target_key_id: a.target_key_id.to_string(),
            creation_date: date(a.creation_date),
            last_updated_date: date(a.last_updated_date),
        }
    }
}

/// A grant as JSON (ListGrants, ListRetirableGrants).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GrantOut {
    key_id: String,
    grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    creation_date: String,
    grantee_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    retiring_principal: Option<String>,
    issuing_account: String,
    operations: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    constraints: Option<ConstraintsOut>,
}

/// A grant's constraints as JSON: each present member an object of strings.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConstraintsOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_context_subset: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_context_equals: Option<BTreeMap<String, String>>,
}

impl From<&GrantListEntry> for GrantOut {
    fn from(g: &GrantListEntry) -> Self {
        let map = |c: &Option<EncryptionContext>| c.as_ref().map(|c| c.as_map().clone());
        GrantOut {
            key_id: g.key_id.to_string(),
            grant_id: g.grant_id.clone(),
            name: g.name.clone(),
            creation_date: date(g.creation_date),
            grantee_principal: g.grantee_principal.clone(),
            retiring_principal: g.retiring_principal.clone(),
            issuing_account: g.issuing_account.clone(),
            operations: g.operations.iter().map(|o| o.as_str()).collect(),
            constraints: g.constraints.as_ref().map(|c| ConstraintsOut {
                encryption_context_subset: map(&c.encryption_context_subset),
                encryption_context_equals: map(&c.encryption_context_equals),
            }),
        }
    }
}

/// Where a raw output goes: a file, or standard output for `-`.
pub(crate) enum RawOut<'a> {
    Stdout,
    File(&'a Path),
}

impl<'a> RawOut<'a> {
    pub(crate) fn parse(value: &'a str) -> Self {
        if value == "-" {
            RawOut::Stdout
        } else {
            RawOut::File(Path::new(value))
        }
    }
}

/// Writes raw bytes (a plaintext or a ciphertext blob). A file is written under a temporary
/// name in the same directory (created readable by the owner only) and renamed into place, so
/// a reader never sees half a file and a failed write leaves nothing behind.
pub(crate) fn write_raw(to: &RawOut<'_>, bytes: &[u8]) -> Result<(), CliError> {
    let path = match to {
        RawOut::Stdout => {
            let mut out = std::io::stdout();
            return out
                .write_all(bytes)
                .and_then(|()| out.flush())
                .map_err(|e| CliError::Setup(format!("cannot write the result: {e}")));
        }
        RawOut::File(p) => *p,
    };
    let fail = |e: std::io::Error| {
        CliError::Setup(format!(
            "cannot write the result to {}: {e}",
            path.display()
        ))
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".lockbox-out-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_look_like_the_aws_cli_prints_them() {
        assert_eq!(
            date(Timestamp::from_unix_millis(1_735_689_600_123)),
            "2025-01-01T00:00:00.123000+00:00"
        );
    }

    #[test]
    fn raw_files_are_private_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        write_raw(&RawOut::File(&p), b"abc").ok().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"abc");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        write_raw(&RawOut::File(&p), b"defg").ok().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"defg");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/dir/out.bin");
        let err = write_raw(&RawOut::File(&missing), b"x")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(&missing.display().to_string()), "{err}");
    }
}
