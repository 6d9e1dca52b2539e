//! Export: audited calls as JSON Lines with CloudTrail's field names.

use std::collections::BTreeMap;
use std::io::Write;

use lockbox_api::{ArnParts, Timestamp};
use lockbox_store::{AuditBody, AuditEntry, AuditEvent, Refusal, Store, Suppressed};
use serde::Serialize;

use super::chain_hash;
use crate::error::Error;

/// Which events to export (every field optional; all given must match).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportFilter {
    /// Events at or after this time.
    pub start: Option<Timestamp>,
    /// Events at or before this time.
    pub end: Option<Timestamp>,
    /// Events on this key: a key id or a key ARN.
    pub key: Option<String>,
    /// Events by this principal ARN.
    pub principal: Option<String>,
}

impl ExportFilter {
    fn matches_refusal(&self, r: &Refusal) -> bool {
        self.start.is_none_or(|s| r.time >= s)
            && self.end.is_none_or(|t| r.time <= t)
            && self
                .principal
                .as_ref()
                .is_none_or(|p| r.principal.as_ref() == Some(p))
            && self.key.is_none()
    }

    fn matches_summary(&self, x: &Suppressed) -> bool {
        self.start.is_none_or(|s| x.until >= s)
            && self.end.is_none_or(|t| x.from <= t)
            && self.principal.is_none()
            && self.key.is_none()
    }

    fn matches(&self, e: &AuditEvent) -> bool {
        self.start.is_none_or(|s| e.time >= s)
            && self.end.is_none_or(|t| e.time <= t)
            && self.principal.as_ref().is_none_or(|p| *p == e.principal)
            && self.key.as_ref().is_none_or(|k| {
                e.key_arn
                    .as_ref()
                    .is_some_and(|arn| arn == k || arn.ends_with(&format!(":key/{k}")))
            })
    }
}

/// Writes every event entry of `store` that `filter` lets through to `out`, one JSON object
/// per line, with CloudTrail's field names; returns how many. Seals are not exported.
/// Requests refused before the engine are exported too (`additionalEventData.refused`), and
/// summaries of refusals not recorded one by one as `AwsServiceEvent`s named
/// `RefusalsSuppressed`; neither names a key, so a key filter leaves them out.
/// An event's region is its key ARN's, else the Region its call was addressed to (entry
/// version 3), else `region` (the configured one).
///
/// An entry that does not decode fails the export: run `lockbox audit verify`.
pub fn export(
    store: &Store,
    filter: &ExportFilter,
    region: &str,
    out: &mut dyn Write,
) -> Result<u64, Error> {
    let mut n = 0;
    for item in store.audit_from(0) {
        let (seq, bytes) = item?;
        let entry = AuditEntry::decode(&bytes).map_err(|e| {
            Error::Audit(format!(
                "entry {seq} does not decode ({e}); run `lockbox audit verify`"
            ))
        })?;
        let hash = chain_hash(&bytes);
        let written = match &entry.body {
            AuditBody::Seal { .. } => continue,
            AuditBody::Event(event) => {
                if !filter.matches(event) {
                    continue;
                }
                serde_json::to_writer(&mut *out, &cloudtrail(event, &hash, region))
            }
            AuditBody::Refused(r) => {
                if !filter.matches_refusal(r) {
                    continue;
                }
                serde_json::to_writer(&mut *out, &refusal(r, &hash, region))
            }
            AuditBody::Suppressed(x) => {
                if !filter.matches_summary(x) {
                    continue;
                }
                serde_json::to_writer(&mut *out, &summary(x, &hash, region))
            }
        };
        written.map_err(|e| Error::Audit(format!("writing the export: {e}")))?;
        out.write_all(b"\n")
            .map_err(|e| Error::Audit(format!("writing the export: {e}")))?;
        n += 1;
    }
    out.flush()
        .map_err(|e| Error::Audit(format!("writing the export: {e}")))?;
    Ok(n)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    user_identity: UserIdentity<'a>,
    event_time: String,
    event_source: &'static str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    request_parameters: RequestParameters<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: String,
    read_only: bool,
    resources: Vec<Resource<'a>>,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_event_data: Option<AdditionalData<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: &'a str,
    arn: &'a str,
    account_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestParameters<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    encryption_context: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Resource<'a> {
    #[serde(rename = "ARN")]
    arn: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "accountId")]
    account_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdditionalData<'a> {
    grant_id: &'a str,
}

fn cloudtrail<'a>(e: &'a AuditEvent, hash: &[u8; 32], region: &'a str) -> Record<'a> {
    let arn_parts = e.key_arn.as_deref().and_then(ArnParts::split);
    let key_region = arn_parts.map(|p| p.region).filter(|r| !r.is_empty());
    let key_account = arn_parts.map_or(e.account.as_str(), |p| p.account);
    Record {
        event_version: "1.08",
        user_identity: UserIdentity {
            kind: identity_type(&e.principal),
            principal_id: principal_id(&e.principal),
            arn: &e.principal,
            account_id: principal_account(&e.principal).unwrap_or(&e.account),
        },
        event_time: rfc3339(e.time),
        event_source: "kms.amazonaws.com",
        event_name: &e.operation,
        aws_region: key_region.or(e.region.as_deref()).unwrap_or(region),
        source_ip_address: &e.source,
        request_parameters: RequestParameters {
            key_id: e.key_arn.as_deref(),
            encryption_context: &e.encryption_context,
        },
        error_code: e.error.as_ref().map(|(c, _)| c.as_str()),
        error_message: e.error.as_ref().map(|(_, m)| m.as_str()),
        request_id: &e.request_id,
        event_id: event_id(hash),
        read_only: read_only(&e.operation),
        resources: e
            .key_arn
            .as_deref()
            .map(|arn| Resource {
                arn,
                kind: "AWS::KMS::Key",
                account_id: key_account,
            })
            .into_iter()
            .collect(),
        event_type: "AwsApiCall",
        management_event: true,
        recipient_account_id: &e.account,
        event_category: "Management",
        additional_event_data: e
            .grant_id
            .as_deref()
            .map(|g| AdditionalData { grant_id: g }),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefusalRecord<'a> {
    event_version: &'static str,
    user_identity: RefusalIdentity<'a>,
    event_time: String,
    event_source: &'static str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    error_code: &'a str,
    error_message: &'a str,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: String,
    read_only: bool,
    event_type: &'static str,
    management_event: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_account_id: Option<&'a str>,
    event_category: &'static str,
    additional_event_data: Refused,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefusalIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
}

#[derive(Serialize)]
struct Refused {
    /// Always true: the request never reached the engine.
    refused: bool,
}

fn refusal<'a>(r: &'a Refusal, hash: &[u8; 32], region: &'a str) -> RefusalRecord<'a> {
    let principal = r.principal.as_deref();
    let account = principal.and_then(principal_account);
    RefusalRecord {
        event_version: "1.08",
        user_identity: RefusalIdentity {
            kind: principal.map_or("Unknown", identity_type),
            principal_id: principal.map(principal_id),
            arn: principal,
            account_id: account,
            access_key_id: r.access_key_id.as_deref(),
        },
        event_time: rfc3339(r.time),
        event_source: "kms.amazonaws.com",
        event_name: r.operation.as_deref().unwrap_or("Unknown"),
        aws_region: region,
        source_ip_address: &r.source,
        error_code: &r.error_code,
        error_message: &r.error_message,
        request_id: &r.request_id,
        event_id: event_id(hash),
        read_only: r.operation.as_deref().is_some_and(read_only),
        event_type: "AwsApiCall",
        management_event: true,
        recipient_account_id: account,
        event_category: "Management",
        additional_event_data: Refused { refused: true },
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryRecord<'a> {
    event_version: &'static str,
    event_time: String,
    event_source: &'static str,
    event_name: &'static str,
    aws_region: &'a str,
    #[serde(rename = "eventID")]
    event_id: String,
    read_only: bool,
    event_type: &'static str,
    management_event: bool,
    event_category: &'static str,
    service_event_details: SummaryDetails<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryDetails<'a> {
    suppressed_refusals: u64,
    from: String,
    until: String,
    by_source: Vec<SourceCount<'a>>,
    other_sources: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SourceCount<'a> {
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    count: u64,
}

fn summary<'a>(x: &'a Suppressed, hash: &[u8; 32], region: &'a str) -> SummaryRecord<'a> {
    SummaryRecord {
        event_version: "1.08",
        event_time: rfc3339(x.until),
        event_source: "kms.amazonaws.com",
        event_name: "RefusalsSuppressed",
        aws_region: region,
        event_id: event_id(hash),
        read_only: true,
        event_type: "AwsServiceEvent",
        management_event: true,
        event_category: "Management",
        service_event_details: SummaryDetails {
            suppressed_refusals: x.count,
            from: rfc3339(x.from),
            until: rfc3339(x.until),
            by_source: x
                .by_source
                .iter()
                .map(|(s, n)| SourceCount {
                    source_ip_address: s,
                    count: *n,
                })
                .collect(),
            other_sources: x.others,
        },
    }
}

/// CloudTrail's identity types, from the principal's ARN.
fn identity_type(arn: &str) -> &'static str {
    let (service, resource) = ArnParts::split(arn).map_or(("", ""), |p| (p.service, p.resource));
    match (service, resource) {
        (_, "root") => "Root",
        ("iam", r) if r.starts_with("user/") => "IAMUser",
        ("sts", r) if r.starts_with("assumed-role/") => "AssumedRole",
        ("iam", r) if r.starts_with("role/") => "AssumedRole",
        _ => "Unknown",
    }
}

/// CloudTrail's principalId is an opaque unique id Lockbox does not have; the resource part
/// of the ARN (`user/alice`, `assumed-role/r/session`, `root`) stands in for it.
fn principal_id(arn: &str) -> &str {
    ArnParts::split(arn).map_or(arn, |p| p.resource)
}

fn principal_account(arn: &str) -> Option<&str> {
    ArnParts::split(arn)
        .map(|p| p.account)
        .filter(|a| !a.is_empty())
}

/// Operations that change nothing (CloudTrail marks Encrypt, Decrypt and data-key calls
/// read-only too): the table's audit class. A name the table lacks (a backup event, or an
/// operation of a later version) is read-only when its name says so.
fn read_only(op: &str) -> bool {
    if let Some(known) = lockbox_api::Operation::from_name(op) {
        return known.audit_class() == lockbox_api::AuditClass::Read;
    }
    [
        "Describe",
        "List",
        "Get",
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateRandom",
        "GenerateMac",
        "VerifyMac",
        "Sign",
        "Verify",
    ]
    .iter()
    .any(|p| op.starts_with(p))
}

/// A stable event id: the entry's chain hash, laid out as a UUID (version 8, "custom").
fn event_id(hash: &[u8; 32]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    super::uuid_text(u128::from_be_bytes(b))
}

/// RFC 3339 in UTC, to the second, as CloudTrail writes eventTime.
fn rfc3339(t: Timestamp) -> String {
    let secs = t.unix_millis().div_euclid(1000);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(dt) => dt
            .format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .unwrap_or_else(|_| secs.to_string()),
        Err(_) => secs.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_times_and_ids_take_cloudtrail_shapes() {
        assert_eq!(identity_type("arn:aws:iam::111122223333:root"), "Root");
        assert_eq!(
            identity_type("arn:aws:iam::111122223333:user/alice"),
            "IAMUser"
        );
        assert_eq!(
            identity_type("arn:aws:sts::111122223333:assumed-role/admin/s1"),
            "AssumedRole"
        );
        assert_eq!(
            principal_id("arn:aws:iam::111122223333:user/alice"),
            "user/alice"
        );
        assert_eq!(
            rfc3339(Timestamp::from_unix_millis(1_735_689_600_999)),
            "2025-01-01T00:00:00Z"
        );
        let id = event_id(&[0xab; 32]);
        assert_eq!(id, "abababab-abab-8bab-abab-abababababab");
        assert!(read_only("Encrypt") && read_only("ListKeys") && !read_only("CreateKey"));
    }
}
