//! inspect-token: what the token says about itself and about every Lockbox object on it.

use lockbox::Engine;
use lockbox::token::{IvGeneration, KeyObjectReport, ValueAccess};
use serde::Serialize;

use crate::error::CliError;
use crate::output::print_json;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TokenOut {
    label: String,
    manufacturer: String,
    model: String,
    serial: String,
    library: String,
    iv_generation: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ObjectOut {
    label: String,
    cka_id: String,
    key_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    purpose: Option<String>,
    value_len: Option<u64>,
    token: bool,
    private: bool,
    sensitive: bool,
    extractable: bool,
    always_sensitive: bool,
    never_extractable: bool,
    modifiable: bool,
    copyable: bool,
    usages: Vec<&'static str>,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectOut {
    token: TokenOut,
    objects: Vec<ObjectOut>,
}

/// How the token answered a request for the size of CKA_VALUE, in words.
pub(crate) fn value_access(v: ValueAccess) -> String {
    match v {
        ValueAccess::Sensitive => "refused by the token (CKR_ATTRIBUTE_SENSITIVE)".into(),
        ValueAccess::Unavailable => "not available".into(),
        ValueAccess::NoSuchAttribute => "no such attribute".into(),
        ValueAccess::Readable(n) => format!("READABLE: the token would return {n} bytes"),
    }
}

/// The name of the audit log's key on the token, wherever Lockbox shows it (`demo`,
/// `inspect-token`), alongside its PKCS#11 type in pkcs11-tool's words ("Generic secret").
pub(crate) const AUDIT_KEY_DESCRIPTION: &str =
    "audit HMAC key (HMAC-SHA256 seals of the audit log)";

/// An object's CKA_KEY_TYPE in the words pkcs11-tool uses (`Secret Key Object; AES`,
/// `Secret Key Object; Generic secret`), so that both tools name an object alike.
pub(crate) fn key_type_name(r: &KeyObjectReport) -> &'static str {
    if r.is_aes {
        "AES"
    } else if r.is_generic_secret {
        "Generic secret"
    } else {
        "other"
    }
}

/// What Lockbox uses an object for, from its label (`<prefix>/audit-hmac`, or
/// `<prefix>/<key id>/<version>`); None for a label of another form.
pub(crate) fn purpose(label: &str) -> Option<String> {
    let (_, name) = label.split_once('/')?;
    if name == lockbox::audit::AUDIT_KEY_NAME {
        return Some(AUDIT_KEY_DESCRIPTION.to_owned());
    }
    let (key, version) = name.split_once('/')?;
    let version: u32 = version.parse().ok()?;
    (key.len() == 36 && key.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .then(|| format!("key material of KMS key {key}, version {version}"))
}

fn object(id: String, r: KeyObjectReport) -> ObjectOut {
    ObjectOut {
        purpose: purpose(&r.label),
        key_type: key_type_name(&r),
        label: r.label,
        cka_id: id,
        value_len: r.value_len,
        token: r.token,
        private: r.private,
        sensitive: r.sensitive,
        extractable: r.extractable,
        always_sensitive: r.always_sensitive,
        never_extractable: r.never_extractable,
        modifiable: r.modifiable,
        copyable: r.copyable,
        usages: r.usages,
        value: value_access(r.value),
    }
}

pub(crate) fn inspect_token(kms: &Engine) -> Result<(), CliError> {
    let token = kms.token();
    let fail =
        |e: lockbox::token::TokenError| CliError::Setup(format!("inspecting the token: {e}"));
    let mut objects = Vec::new();
    for o in token.list_objects().map_err(fail)? {
        let report = token.inspect(&o.id).map_err(fail)?;
        objects.push(object(o.id.to_string(), report));
    }
    let d = token.description();
    print_json(&InspectOut {
        token: TokenOut {
            label: d.label.clone(),
            manufacturer: d.manufacturer.clone(),
            model: d.model.clone(),
            serial: d.serial.clone(),
            library: d.library.clone(),
            iv_generation: match token.iv_generation() {
                IvGeneration::Host => "host",
                IvGeneration::Token => "token",
            },
        },
        objects,
    })
}
