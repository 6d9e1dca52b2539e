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

fn object(id: String, r: KeyObjectReport) -> ObjectOut {
    ObjectOut {
        label: r.label,
        cka_id: id,
        key_type: if r.is_aes { "AES" } else { "other" },
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
