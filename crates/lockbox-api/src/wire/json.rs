//! Reading and writing the members of AWS JSON 1.1 bodies, with AWS's error codes and wording.
//!
//! [`Input`] takes members out of a parsed object one at a time, each with the type the model
//! gives it: a member of the wrong JSON type is a `SerializationException` naming it, a
//! missing required member or a violated length or range is a `ValidationException` worded as
//! AWS words them, and `null` counts as absent. Members nobody takes are ignored, as AWS
//! ignores unknown members.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};
use zeroize::{Zeroize, Zeroizing};

use super::error::WireError;
use crate::{KmsError, Plaintext, Timestamp, shorten};

/// Standard base64; padding is optional on input (some clients leave it off), written on output.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The error code of a body or member that does not parse as its model type says.
pub(crate) const SERIALIZATION: &str = "SerializationException";

/// The members of one JSON object, taken out as they are read.
pub(crate) struct Input {
    members: Map<String, Value>,
    /// How messages name this object's members: `""` at the top, `"Constraints."` below.
    wire_path: String,
    /// The same path as AWS validation messages spell it: `"constraints."`.
    aws_path: String,
}

impl Input {
    /// Parses a request or response body; an empty (or all-white-space) body is `{}`.
    ///
    /// serde_json's recursion limit (128) stays on, so nesting cannot exhaust the stack.
    pub(crate) fn parse(body: &[u8]) -> Result<Input, WireError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Input::object(Map::new(), String::new(), String::new()));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(members)) => Ok(Input::object(members, String::new(), String::new())),
            Ok(_) => Err(serialization("The request body must be a JSON object")),
            Err(e) => Err(serialization(format!(
                "The request body is not valid JSON: {e}"
            ))),
        }
    }

    fn object(members: Map<String, Value>, wire_path: String, aws_path: String) -> Input {
        Input {
            members,
            wire_path,
            aws_path,
        }
    }

    /// The member's name as messages print it (`KeyId`, `Constraints.EncryptionContextEquals`).
    pub(crate) fn wire_name(&self, name: &str) -> String {
        format!("{}{name}", self.wire_path)
    }

    /// The member's name as AWS validation messages print it (`keyId`, `constraints.x`).
    pub(crate) fn aws_name(&self, name: &str) -> String {
        format!("{}{}", self.aws_path, lower_first(name))
    }

    /// Takes a member out; `null` counts as absent.
    fn take(&mut self, name: &str) -> Option<Value> {
        match self.members.remove(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn wrong_type(&self, name: &str, expected: &str) -> WireError {
        serialization(format!(
            "Value of {} must be {expected}",
            self.wire_name(name)
        ))
    }

    /// The `ValidationException` of a missing required member.
    pub(crate) fn missing(&self, name: &str) -> WireError {
        validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: \
             Member must not be null",
            self.aws_name(name)
        ))
    }

    /// A `ValidationException` for a member whose value breaks a model constraint.
    pub(crate) fn constraint(&self, name: &str, value: Option<&str>, rule: &str) -> WireError {
        let value = match value {
            Some(v) => format!(" '{}'", shorten(v)),
            None => String::new(),
        };
        validation(format!(
            "1 validation error detected: Value{value} at '{}' failed to satisfy constraint: \
             {rule}",
            self.aws_name(name)
        ))
    }

    /// An optional string member.
    pub(crate) fn opt_str(&mut self, name: &str) -> Result<Option<String>, WireError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong_type(name, "a string")),
        }
    }

    /// An optional string member parsed with `parse` (a `KmsError` keeps its own kind).
    pub(crate) fn opt_parse<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, KmsError>,
    ) -> Result<Option<T>, WireError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) => parse(&s).map(Some).map_err(|e| WireError::from_kms(&e)),
        }
    }

    /// An optional integer member within the model's `min..=max`.
    pub(crate) fn opt_int(
        &mut self,
        name: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, WireError> {
        let n = match self.take(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_i64(),
            Some(_) => None,
        };
        let Some(n) = n else {
            return Err(self.wrong_type(name, "an integer"));
        };
        if n < min {
            return Err(self.constraint(
                name,
                Some(&n.to_string()),
                &format!("Member must have value greater than or equal to {min}"),
            ));
        }
        if n > max {
            return Err(self.constraint(
                name,
                Some(&n.to_string()),
                &format!("Member must have value less than or equal to {max}"),
            ));
        }
        Ok(Some(n))
    }

    /// An optional integer member within `min..=max`, as a `u32` (`min` must be at least 0).
    pub(crate) fn opt_u32(
        &mut self,
        name: &str,
        min: u32,
        max: u32,
    ) -> Result<Option<u32>, WireError> {
        Ok(self
            .opt_int(name, i64::from(min), i64::from(max))?
            // In range min..=max, both u32, so the conversion cannot fail.
            .map(|n| u32::try_from(n).unwrap_or(max)))
    }

    /// An optional boolean member.
    pub(crate) fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, WireError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(self.wrong_type(name, "a boolean")),
        }
    }

    /// An optional blob member (base64) of 1..=`max` bytes.
    pub(crate) fn opt_blob(
        &mut self,
        name: &str,
        max: usize,
    ) -> Result<Option<Vec<u8>>, WireError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => self.decode_blob(name, &s, max).map(|z| Some(z.to_vec())),
            Some(_) => Err(self.wrong_type(name, "a base64-encoded string")),
        }
    }

    /// An optional secret blob member of 1..=`max` bytes: decoded straight into a zeroizing
    /// buffer, and the base64 text it came in is wiped.
    pub(crate) fn opt_secret(
        &mut self,
        name: &str,
        max: usize,
    ) -> Result<Option<Plaintext>, WireError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(mut s)) => {
                let decoded = self.decode_blob(name, &s, max);
                s.zeroize();
                decoded.map(|z| Some(Plaintext::from(z)))
            }
            Some(_) => Err(self.wrong_type(name, "a base64-encoded string")),
        }
    }

    fn decode_blob(
        &self,
        name: &str,
        text: &str,
        max: usize,
    ) -> Result<Zeroizing<Vec<u8>>, WireError> {
        let length = |n: usize| self.constraint(name, None, &crate::error::length_rule(n, max));
        // Refuse an oversized member before allocating for it: base64 is at most 4 characters
        // per 3 bytes, so anything longer than this decodes to more than `max`.
        if text.len() > max.div_ceil(3) * 4 + 4 {
            return Err(length(max + 1));
        }
        let mut out = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(text.len())]);
        let n = BASE64
            .decode_slice(text.as_bytes(), &mut out)
            .map_err(|_| {
                serialization(format!(
                    "Value of {} is not valid base64",
                    self.wire_name(name)
                ))
            })?;
        out.truncate(n);
        if n == 0 || n > max {
            return Err(length(n));
        }
        Ok(out)
    }

    /// An optional list of strings.
    pub(crate) fn opt_str_list(&mut self, name: &str) -> Result<Option<Vec<String>>, WireError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => out.push(s),
                        _ => return Err(self.wrong_type(name, "a list of strings")),
                    }
                }
                Ok(Some(out))
            }
            Some(_) => Err(self.wrong_type(name, "a list of strings")),
        }
    }

    /// An optional map of strings to strings.
    pub(crate) fn opt_str_map(
        &mut self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, WireError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Object(members)) => {
                let mut out = BTreeMap::new();
                for (k, v) in members {
                    match v {
                        Value::String(v) => {
                            out.insert(k, v);
                        }
                        _ => {
                            return Err(self.wrong_type(name, "a map of strings to strings"));
                        }
                    }
                }
                Ok(Some(out))
            }
            Some(_) => Err(self.wrong_type(name, "a map of strings to strings")),
        }
    }

    /// An optional nested object.
    pub(crate) fn opt_object(&mut self, name: &str) -> Result<Option<Input>, WireError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Object(members)) => Ok(Some(Input::object(
                members,
                format!("{}.", self.wire_name(name)),
                format!("{}.", self.aws_name(name)),
            ))),
            Some(_) => Err(self.wrong_type(name, "an object")),
        }
    }

    /// An optional list of objects (`Tags`, `Keys`, ...).
    pub(crate) fn opt_object_list(&mut self, name: &str) -> Result<Option<Vec<Input>>, WireError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                // AWS names a list entry's members with the entry's 1-based index:
                // `tags.1.member.tagKey`.
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::Object(members) => out.push(Input::object(
                            members,
                            format!("{}.", self.wire_name(name)),
                            format!("{}.{}.member.", self.aws_name(name), i + 1),
                        )),
                        _ => return Err(self.wrong_type(name, "a list of objects")),
                    }
                }
                Ok(Some(out))
            }
            Some(_) => Err(self.wrong_type(name, "a list of objects")),
        }
    }

    /// An optional timestamp member: epoch seconds, possibly fractional.
    pub(crate) fn opt_timestamp(&mut self, name: &str) -> Result<Option<Timestamp>, WireError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(s) => Ok(Some(Timestamp::from_unix_millis(s.saturating_mul(1000)))),
                None => match n.as_f64() {
                    Some(f) if f.is_finite() && f.abs() < 1e15 => {
                        // |f| < 1e15 seconds, so the milliseconds fit an i64.
                        Ok(Some(Timestamp::from_unix_millis(
                            (f * 1000.0).round() as i64
                        )))
                    }
                    _ => Err(self.wrong_type(name, "a timestamp in epoch seconds")),
                },
            },
            Some(_) => Err(self.wrong_type(name, "a timestamp in epoch seconds")),
        }
    }

    /// Refuses a member that changes what the request means but that Lockbox does not
    /// implement, rather than ignoring it silently.
    pub(crate) fn refuse(&mut self, name: &str, why: &str) -> Result<(), WireError> {
        match self.take(name) {
            None => Ok(()),
            Some(_) => Err(unsupported(format!(
                "{} is not supported: {why}",
                self.wire_name(name)
            ))),
        }
    }
}

/// A 400 `SerializationException`.
pub(crate) fn serialization(message: impl Into<String>) -> WireError {
    WireError::new(400, SERIALIZATION, message)
}

/// A 400 `ValidationException`.
pub(crate) fn validation(message: impl Into<String>) -> WireError {
    WireError::new(400, "ValidationException", message)
}

/// A 400 `UnsupportedOperationException`.
pub(crate) fn unsupported(message: impl Into<String>) -> WireError {
    WireError::new(400, "UnsupportedOperationException", message)
}

/// `KeyId` -> `keyId`; `AWSAccountId` -> `aWSAccountId` is never needed (no input has it).
fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The members of a body being written.
#[derive(Default)]
pub(crate) struct Output {
    members: Map<String, Value>,
    /// A secret blob member (plaintext), already in base64 in a buffer sized once: it never
    /// becomes a `serde_json` string (whose growth could leave copies behind), and is
    /// written into the body last, by [`Output::into_body`]. Top-level members only.
    secret: Option<(&'static str, Zeroizing<Vec<u8>>)>,
}

impl Output {
    /// An empty object.
    pub(crate) fn new() -> Output {
        Output::default()
    }

    /// Sets a member.
    pub(crate) fn put(&mut self, name: &str, value: impl Into<Value>) -> &mut Output {
        self.members.insert(name.to_owned(), value.into());
        self
    }

    /// Sets a string member from anything that prints.
    pub(crate) fn put_text(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Output {
        self.put(name, value.to_string())
    }

    /// Sets a blob member (base64).
    pub(crate) fn put_blob(&mut self, name: &str, bytes: &[u8]) -> &mut Output {
        self.put(name, BASE64.encode(bytes))
    }

    /// Sets the secret blob member: its base64 goes into a zeroizing buffer sized once.
    pub(crate) fn put_secret(&mut self, name: &'static str, secret: &[u8]) -> &mut Output {
        let encoded = base64::encoded_len(secret.len(), true).unwrap_or(0);
        let mut text = Zeroizing::new(vec![0u8; encoded]);
        // `encoded` is exactly the padded length of `secret`, so the buffer is large enough.
        let written = BASE64.encode_slice(secret, &mut text[..]).unwrap_or(0);
        text.truncate(written);
        self.secret = Some((name, text));
        self
    }

    /// Sets a timestamp member.
    pub(crate) fn put_timestamp(&mut self, name: &str, t: Timestamp) -> &mut Output {
        self.put(name, timestamp_value(t))
    }

    /// Sets a string-map member.
    pub(crate) fn put_map(&mut self, name: &str, pairs: &BTreeMap<String, String>) -> &mut Output {
        let map: Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        self.put(name, Value::Object(map))
    }

    /// The object as a value (for nesting; a nested object holds no secret).
    pub(crate) fn into_value(self) -> Value {
        Value::Object(self.members)
    }

    /// The body. With a secret member, it is written straight into a buffer sized once (so
    /// no reallocation leaves a copy behind), and the buffer is zeroized when dropped.
    pub(crate) fn into_body(self) -> Zeroizing<Vec<u8>> {
        let rest = Value::Object(self.members).to_string();
        let Some((name, secret)) = self.secret else {
            return Zeroizing::new(rest.into_bytes());
        };
        let mut out = Zeroizing::new(Vec::with_capacity(
            rest.len() + name.len() + secret.len() + 8,
        ));
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":\"");
        out.extend_from_slice(&secret);
        out.push(b'"');
        match rest.strip_prefix('{') {
            Some("}") | None => out.push(b'}'),
            Some(tail) => {
                out.push(b',');
                out.extend_from_slice(tail.as_bytes());
            }
        }
        out
    }
}

/// Epoch seconds: an integer when the time falls on a whole second, else fractional.
pub(crate) fn timestamp_value(t: Timestamp) -> Value {
    let ms = t.unix_millis();
    if ms % 1000 == 0 {
        Value::from(ms / 1000)
    } else {
        Value::from(t.unix_seconds_f64())
    }
}
