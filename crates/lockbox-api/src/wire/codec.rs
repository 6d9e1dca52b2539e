//! One codec, both ways: a [`Shape`] reads and writes one JSON object, a [`Member`] one
//! member's kind, and [`shape!`] writes a shape's `read` and `write` from one list of its
//! members, in the manner of rustls's `Codec` (`encode` and `read` side by side).
//!
//! Each member of a shape is one line: the Rust field, the JSON name (written nowhere else),
//! its kind (which fixes the JSON type, the model constraint and the secret handling) and its
//! mode (required, optional, defaulted, refused). `read` takes the members in the order of
//! the lines, so the first broken member is the one AWS would name; `write` puts them all.
//! The server reads requests and writes responses with these, the client the reverse.

use std::fmt::Display;
use std::marker::PhantomData;
use std::str::FromStr;

use serde_json::Value;

use super::error::WireError;
use super::json::{Input, Output, serialization, unsupported};
use crate::{
    AliasArn, AliasName, DataKeySize, DataKeySpec, EncryptionContext, GrantName, GrantTokens,
    KeyArn, KeyId, KeyRef, KeySpec, KmsError, MAX_NUMBER_OF_BYTES, NumberOfBytes, Plaintext,
    Principal, Timestamp,
};

/// One JSON object's shape: how to read it from an [`Input`] and write it to an [`Output`].
pub(crate) trait Shape {
    /// The Rust value the object stands for.
    type Value;
    /// Reads the object's members (and refuses the ones Lockbox does not support).
    fn read(m: &mut Input) -> Result<Self::Value, WireError>;
    /// Writes the object's members.
    fn write(v: &Self::Value, o: &mut Output);

    /// Reads a whole body of this shape (an empty body counts as `{}`).
    fn decode(body: &[u8]) -> Result<Self::Value, WireError> {
        Self::read(&mut Input::parse(body)?)
    }
}

/// The JSON name (or names, for a value spread over two members) of a member.
pub(crate) trait Names: Copy {
    /// The name a "must not be null" message names.
    fn first(self) -> &'static str;
}

impl Names for &'static str {
    fn first(self) -> &'static str {
        self
    }
}

impl Names for (&'static str, &'static str) {
    fn first(self) -> &'static str {
        self.0
    }
}

/// A member's kind: its JSON type, model constraint and Rust type.
pub(crate) trait Member {
    /// The Rust value.
    type Value;
    /// `&'static str`, or a pair for a value spread over two members.
    type Names: Names;
    /// Takes the member out of `m`: `None` when it is absent (or `null`).
    fn read(m: &mut Input, names: Self::Names) -> Result<Option<Self::Value>, WireError>;
    /// Puts the member into `o`.
    fn write(v: &Self::Value, o: &mut Output, names: Self::Names);
}

/// A required member: absent is AWS's "Member must not be null".
pub(crate) fn required<K: Member>(m: &mut Input, names: K::Names) -> Result<K::Value, WireError> {
    match K::read(m, names)? {
        Some(v) => Ok(v),
        None => Err(m.missing(names.first())),
    }
}

/// Defines shapes: one line per member, `field: "JsonName" as Kind => mode;`, read in the
/// order written. Modes: `req` (absent is a `ValidationException`), `opt` (an `Option`),
/// `or(default)` (absent reads as `default`, which may use fields read above; always
/// written), `sparse` (absent reads as `Default`; written only when not the default),
/// `check` (read and validated, not kept, never written), `refuse(why)` (a model member
/// Lockbox does not support, present: `UnsupportedOperationException`; never written), `flatten` (another shape's members,
/// read here, for the same value). `, get |r| expr` writes `expr` instead of the field;
/// `=> expr` after the members builds the value from the fields (else a struct literal).
macro_rules! shape {
    ($(
        $(#[doc = $doc:literal])+
        $codec:ident: $ty:ident {
            $( $bind:tt : $name:tt as $kind:ty => $mode:ident $(($($arg:tt)*))?
               $(, get |$g:ident| $get:expr)? ; )*
        } $(=> $build:expr)?
    )*) => {$(
        $(#[doc = $doc])+
        pub(crate) struct $codec;

        impl $crate::wire::codec::Shape for $codec {
            type Value = $ty;

            // `_` lines (refusals, checks) bind the unit their check returns.
            #[allow(clippy::let_unit_value)]
            fn read(m: &mut $crate::wire::json::Input) -> Result<$ty, $crate::wire::WireError> {
                $( let $bind = shape!(@read m, $kind, $name, [$mode $(($($arg)*))?]); )*
                Ok(shape!(@build $ty, [$($build)?] [] $($bind)*))
            }

            #[allow(unused_variables)]
            fn write(r: &$ty, o: &mut $crate::wire::json::Output) {
                $( shape!(@write r, o, $kind, $name, $bind, [$mode], [$(|$g| $get)?]); )*
            }
        }
    )*};

    (@read $m:ident, $kind:ty, $name:tt, [req]) => {
        $crate::wire::codec::required::<$kind>($m, $name)?
    };
    (@read $m:ident, $kind:ty, $name:tt, [opt]) => {
        <$kind as $crate::wire::codec::Member>::read($m, $name)?
    };
    (@read $m:ident, $kind:ty, $name:tt, [or($($default:tt)*)]) => {
        match <$kind as $crate::wire::codec::Member>::read($m, $name)? {
            Some(v) => v,
            None => $($default)*,
        }
    };
    (@read $m:ident, $kind:ty, $name:tt, [sparse]) => {
        <$kind as $crate::wire::codec::Member>::read($m, $name)?.unwrap_or_default()
    };
    (@read $m:ident, $kind:ty, $name:tt, [check]) => {
        <$kind as $crate::wire::codec::Member>::read($m, $name)?
    };
    (@read $m:ident, $kind:ty, $name:tt, [refuse($why:expr)]) => {
        $m.refuse($name, $why)?
    };
    (@read $m:ident, $kind:ty, $name:tt, [flatten]) => {
        <$kind as $crate::wire::codec::Shape>::read($m)?
    };

    // The value: `=> expr`, or a struct literal of the fields (`_` lines are not fields).
    (@build $ty:ident, [] [$($f:ident)*]) => { $ty { $($f),* } };
    (@build $ty:ident, [] [$($f:ident)*] _ $($rest:tt)*) => {
        shape!(@build $ty, [] [$($f)*] $($rest)*)
    };
    (@build $ty:ident, [] [$($f:ident)*] $next:ident $($rest:tt)*) => {
        shape!(@build $ty, [] [$($f)* $next] $($rest)*)
    };
    (@build $ty:ident, [$build:expr] $($rest:tt)*) => { $build };

    (@write $r:ident, $o:ident, $kind:ty, $name:tt, $bind:tt, [req], $get:tt) => {{
        shape!(@let raw = $r, $bind, $get);
        let v: &<$kind as $crate::wire::codec::Member>::Value =
            ::std::borrow::Borrow::borrow(raw);
        <$kind as $crate::wire::codec::Member>::write(v, $o, $name);
    }};
    (@write $r:ident, $o:ident, $kind:ty, $name:tt, $bind:tt, [or], $get:tt) => {
        shape!(@write $r, $o, $kind, $name, $bind, [req], $get)
    };
    (@write $r:ident, $o:ident, $kind:ty, $name:tt, $bind:tt, [opt], $get:tt) => {{
        shape!(@let raw = $r, $bind, $get);
        let v: &Option<<$kind as $crate::wire::codec::Member>::Value> =
            ::std::borrow::Borrow::borrow(raw);
        if let Some(v) = v {
            <$kind as $crate::wire::codec::Member>::write(v, $o, $name);
        }
    }};
    (@write $r:ident, $o:ident, $kind:ty, $name:tt, $bind:tt, [sparse], $get:tt) => {{
        shape!(@let raw = $r, $bind, $get);
        let v: &<$kind as $crate::wire::codec::Member>::Value =
            ::std::borrow::Borrow::borrow(raw);
        if *v != <<$kind as $crate::wire::codec::Member>::Value as Default>::default() {
            <$kind as $crate::wire::codec::Member>::write(v, $o, $name);
        }
    }};
    (@write $r:ident, $o:ident, $kind:ty, $name:tt, $bind:tt, [flatten], $get:tt) => {
        <$kind as $crate::wire::codec::Shape>::write($r, $o)
    };
    (@write $r:ident, $o:ident, $kind:ty, $name:tt, $bind:tt, [$other:ident], $get:tt) => {};

    (@let $raw:ident = $r:ident, $bind:ident, []) => { let $raw = &$r.$bind; };
    (@let $raw:ident = $r:ident, $bind:tt, [|$g:ident| $get:expr]) => {
        let $g = $r;
        let $raw = &($get);
    };
}

pub(crate) use shape;

/// The shape of an empty object (the answer of the operations that return nothing).
pub(crate) struct Unit;

impl Shape for Unit {
    type Value = ();
    fn read(_: &mut Input) -> Result<(), WireError> {
        Ok(())
    }
    fn write(_: &(), _: &mut Output) {}

    /// An answer that carries nothing is not looked at (as before the codec was shared).
    fn decode(_: &[u8]) -> Result<(), WireError> {
        Ok(())
    }
}

/// A refused member's kind: any JSON value. Only a name for the reader: the `refuse` mode
/// takes the member itself.
#[allow(dead_code)]
pub(crate) struct Refused;

/// A string.
pub(crate) struct Str;

impl Member for Str {
    type Value = String;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<String>, WireError> {
        m.opt_str(name)
    }
    fn write(v: &String, o: &mut Output, name: &'static str) {
        o.put(name, v.clone());
    }
}

/// A string of `MIN..=MAX` characters (`MarkerType`, `GrantIdType`, ...).
pub(crate) struct BoundedStr<const MIN: usize, const MAX: usize>;

impl<const MIN: usize, const MAX: usize> Member for BoundedStr<MIN, MAX> {
    type Value = String;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<String>, WireError> {
        match m.opt_str(name)? {
            Some(s) if s.len() < MIN || s.len() > MAX => Err(m.constraint(
                name,
                Some(&s),
                &crate::error::length_rule_in(s.len(), MIN, MAX),
            )),
            s => Ok(s),
        }
    }
    fn write(v: &String, o: &mut Output, name: &'static str) {
        o.put(name, v.clone());
    }
}

/// A string of `MIN..=MAX` characters that must also satisfy the model's pattern (checked
/// after the length, as AWS does): `P` says which.
pub(crate) struct PatternStr<const MIN: usize, const MAX: usize, P>(PhantomData<P>);

/// A model pattern a [`PatternStr`] checks.
pub(crate) trait Pattern {
    /// The pattern as AWS's message prints it.
    const TEXT: &'static str;
    /// Whether `s` matches it.
    fn matches(s: &str) -> bool;
}

/// `RegionType`.
pub(crate) struct RegionPattern;

impl Pattern for RegionPattern {
    const TEXT: &'static str = crate::REGION_PATTERN;
    fn matches(s: &str) -> bool {
        crate::is_region_name(s)
    }
}

/// `KeyMaterialDescriptionType`.
pub(crate) struct MaterialDescriptionPattern;

impl Pattern for MaterialDescriptionPattern {
    const TEXT: &'static str = crate::KEY_MATERIAL_DESCRIPTION_PATTERN;
    fn matches(s: &str) -> bool {
        crate::is_key_material_description(s)
    }
}

impl<const MIN: usize, const MAX: usize, P: Pattern> Member for PatternStr<MIN, MAX, P> {
    type Value = String;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<String>, WireError> {
        match BoundedStr::<MIN, MAX>::read(m, name)? {
            Some(s) if !P::matches(&s) => Err(m.constraint(
                name,
                Some(&s),
                &format!(
                    "Member must satisfy regular expression pattern: {}",
                    P::TEXT
                ),
            )),
            s => Ok(s),
        }
    }
    fn write(v: &String, o: &mut Output, name: &'static str) {
        o.put(name, v.clone());
    }
}

/// A value that parses from and prints as a string (the enums, `KeyId`, `AliasName`).
pub(crate) struct Text<T>(PhantomData<T>);

impl<T: FromStr<Err = KmsError> + Display> Member for Text<T> {
    type Value = T;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<T>, WireError> {
        // An enum's own check names the member it is usually read from
        // (`encryptionAlgorithm`); the member path is this one's
        // (`sourceEncryptionAlgorithm`), as AWS names it.
        let path = m.aws_name(name);
        m.opt_parse(name, str::parse).map_err(|mut e| {
            if let Some((head, rest)) = e.message.split_once(" at '")
                && let Some((_, tail)) = rest.split_once("' failed to satisfy constraint: ")
                && head.starts_with("1 validation error detected: Value")
            {
                e.message = format!("{head} at '{path}' failed to satisfy constraint: {tail}");
            }
            e
        })
    }
    fn write(v: &T, o: &mut Output, name: &'static str) {
        o.put_text(name, v);
    }
}

/// A list of [`Text`] values.
pub(crate) struct TextList<T>(PhantomData<T>);

impl<T: FromStr<Err = KmsError> + Display> Member for TextList<T> {
    type Value = Vec<T>;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<Vec<T>>, WireError> {
        match m.opt_str_list(name)? {
            None => Ok(None),
            Some(items) => Ok(Some(
                items
                    .iter()
                    .map(|s| s.parse())
                    .collect::<Result<_, KmsError>>()?,
            )),
        }
    }
    fn write(v: &Vec<T>, o: &mut Output, name: &'static str) {
        o.put(
            name,
            Value::Array(v.iter().map(|t| Value::String(t.to_string())).collect()),
        );
    }
}

/// A list of strings.
pub(crate) struct StrList;

impl Member for StrList {
    type Value = Vec<String>;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<Vec<String>>, WireError> {
        m.opt_str_list(name)
    }
    fn write(v: &Vec<String>, o: &mut Output, name: &'static str) {
        o.put(
            name,
            Value::Array(v.iter().cloned().map(Value::String).collect()),
        );
    }
}

/// A key identifier in a request (`KeyIdType`: 1..=2048 characters), any of the four forms;
/// the operation decides which it takes.
pub(crate) struct KeyRefs;

/// The most characters of a key identifier (`KeyIdType`).
const KEY_ID_MAX: usize = 2048;

impl Member for KeyRefs {
    type Value = KeyRef;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<KeyRef>, WireError> {
        let Some(s) = m.opt_str(name)? else {
            return Ok(None);
        };
        if s.is_empty() || s.len() > KEY_ID_MAX {
            return Err(m.constraint(
                name,
                Some(&s),
                &crate::error::length_rule(s.len(), KEY_ID_MAX),
            ));
        }
        Ok(Some(KeyRef::parse(&s)?))
    }
    fn write(v: &KeyRef, o: &mut Output, name: &'static str) {
        o.put_text(name, v);
    }
}

/// A key ARN in a response.
pub(crate) struct KeyArns;

impl Member for KeyArns {
    type Value = KeyArn;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<KeyArn>, WireError> {
        let Some(s) = m.opt_str(name)? else {
            return Ok(None);
        };
        match KeyRef::parse(&s)? {
            KeyRef::KeyArn(arn) => Ok(Some(arn)),
            _ => Err(serialization(format!(
                "Value of {} must be a key ARN",
                m.wire_name(name)
            ))),
        }
    }
    fn write(v: &KeyArn, o: &mut Output, name: &'static str) {
        o.put_text(name, v);
    }
}

/// A key id in a response; AWS sometimes answers with the key ARN, which names the same id.
pub(crate) struct KeyIds;

impl Member for KeyIds {
    type Value = KeyId;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<KeyId>, WireError> {
        let Some(s) = m.opt_str(name)? else {
            return Ok(None);
        };
        match KeyRef::parse(&s)? {
            KeyRef::Id(id) => Ok(Some(id)),
            KeyRef::KeyArn(arn) => Ok(Some(arn.key_id())),
            _ => Err(serialization(format!(
                "Value of {} must be a key id or key ARN",
                m.wire_name(name)
            ))),
        }
    }
    fn write(v: &KeyId, o: &mut Output, name: &'static str) {
        o.put_text(name, v);
    }
}

/// An alias ARN in a response.
pub(crate) struct AliasArns;

impl Member for AliasArns {
    type Value = AliasArn;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<AliasArn>, WireError> {
        let Some(s) = m.opt_str(name)? else {
            return Ok(None);
        };
        match KeyRef::parse(&s)? {
            KeyRef::AliasArn(arn) => Ok(Some(arn)),
            _ => Err(serialization(format!(
                "Value of {} must be an alias ARN",
                m.wire_name(name)
            ))),
        }
    }
    fn write(v: &AliasArn, o: &mut Output, name: &'static str) {
        o.put_text(name, v);
    }
}

/// An alias name (`alias/...`).
pub(crate) type AliasNames = Text<AliasName>;

/// An IAM principal ARN.
pub(crate) struct Principals;

/// The model's bound on a principal (`PrincipalIdType`: 1..=256 characters).
const PRINCIPAL_MAX: usize = 256;
/// The model's pattern of a principal (`PrincipalIdType`).
const PRINCIPAL_PATTERN: &str = "^[\\w+=,.@:/-]+$";

impl Member for Principals {
    type Value = Principal;
    type Names = &'static str;
    /// The model's length and pattern first (ValidationException, as AWS answers), then
    /// the IAM principal ARN Lockbox needs (InvalidArnException naming what is wrong).
    fn read(m: &mut Input, name: &'static str) -> Result<Option<Principal>, WireError> {
        let Some(s) = m.opt_str(name)? else {
            return Ok(None);
        };
        let n = s.chars().count();
        if n == 0 || n > PRINCIPAL_MAX {
            return Err(m.constraint(name, Some(&s), &crate::error::length_rule(n, PRINCIPAL_MAX)));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c))
        {
            return Err(m.constraint(
                name,
                Some(&s),
                &format!("Member must satisfy regular expression pattern: {PRINCIPAL_PATTERN}"),
            ));
        }
        Ok(Some(Principal::parse(&s)?))
    }
    fn write(v: &Principal, o: &mut Output, name: &'static str) {
        o.put_text(name, v);
    }
}

/// A grant's friendly name.
pub(crate) struct GrantNames;

impl Member for GrantNames {
    type Value = GrantName;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<GrantName>, WireError> {
        m.opt_parse(name, GrantName::new)
    }
    fn write(v: &GrantName, o: &mut Output, name: &'static str) {
        o.put(name, v.as_str());
    }
}

/// An integer in `MIN..=MAX`.
pub(crate) struct U32<const MIN: u32, const MAX: u32>;

impl<const MIN: u32, const MAX: u32> Member for U32<MIN, MAX> {
    type Value = u32;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<u32>, WireError> {
        m.opt_u32(name, MIN, MAX)
    }
    fn write(v: &u32, o: &mut Output, name: &'static str) {
        o.put(name, *v);
    }
}

/// A boolean.
pub(crate) struct Bool;

impl Member for Bool {
    type Value = bool;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<bool>, WireError> {
        m.opt_bool(name)
    }
    fn write(v: &bool, o: &mut Output, name: &'static str) {
        o.put(name, *v);
    }
}

/// A blob (base64) of 1..=`MAX` bytes.
pub(crate) struct Blob<const MAX: usize>;

impl<const MAX: usize> Member for Blob<MAX> {
    type Value = Vec<u8>;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<Vec<u8>>, WireError> {
        m.opt_blob(name, MAX)
    }
    fn write(v: &Vec<u8>, o: &mut Output, name: &'static str) {
        o.put_blob(name, v);
    }
}

/// A secret blob (plaintext) of 1..=`MAX` bytes: decoded straight into a zeroizing buffer
/// (its base64 text wiped), written into a body sized once and zeroized.
pub(crate) struct Secret<const MAX: usize>;

impl<const MAX: usize> Member for Secret<MAX> {
    type Value = Plaintext;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<Plaintext>, WireError> {
        m.opt_secret(name, MAX)
    }
    fn write(v: &Plaintext, o: &mut Output, name: &'static str) {
        o.put_secret(name, v.expose_secret());
    }
}

/// A timestamp: epoch seconds, fractional when not on a whole second.
pub(crate) struct Time;

impl Member for Time {
    type Value = Timestamp;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<Timestamp>, WireError> {
        m.opt_timestamp(name)
    }
    fn write(v: &Timestamp, o: &mut Output, name: &'static str) {
        o.put_timestamp(name, *v);
    }
}

/// An encryption context: a map of strings to strings, checked as AWS checks it.
pub(crate) struct Context;

impl Member for Context {
    type Value = EncryptionContext;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<EncryptionContext>, WireError> {
        match m.opt_str_map(name)? {
            None => Ok(None),
            Some(pairs) => Ok(Some(EncryptionContext::new(pairs)?)),
        }
    }
    fn write(v: &EncryptionContext, o: &mut Output, name: &'static str) {
        o.put_map(name, v.as_map());
    }
}

/// Grant tokens.
pub(crate) struct Tokens;

impl Member for Tokens {
    type Value = GrantTokens;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<GrantTokens>, WireError> {
        match m.opt_str_list(name)? {
            None => Ok(None),
            Some(t) => Ok(Some(GrantTokens::new(t)?)),
        }
    }
    fn write(v: &GrantTokens, o: &mut Output, name: &'static str) {
        o.put(
            name,
            Value::Array(v.as_slice().iter().cloned().map(Value::String).collect()),
        );
    }
}

/// `NumberOfBytes` alone (GenerateRandom): 1..=1024.
pub(crate) struct Bytes;

impl Member for Bytes {
    type Value = NumberOfBytes;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<NumberOfBytes>, WireError> {
        match m.opt_int(name, 1, i64::from(MAX_NUMBER_OF_BYTES))? {
            None => Ok(None),
            Some(n) => Ok(Some(NumberOfBytes::new(n)?)),
        }
    }
    fn write(v: &NumberOfBytes, o: &mut Output, name: &'static str) {
        o.put(name, v.get());
    }
}

/// A data key's size from `(NumberOfBytes, KeySpec)`: exactly one of the two.
pub(crate) struct DataKeySizes;

impl Member for DataKeySizes {
    type Value = DataKeySize;
    type Names = (&'static str, &'static str);
    fn read(
        m: &mut Input,
        (bytes, spec): (&'static str, &'static str),
    ) -> Result<Option<DataKeySize>, WireError> {
        let n = m.opt_int(bytes, 1, i64::from(MAX_NUMBER_OF_BYTES))?;
        let spec = m.opt_parse(spec, str::parse::<DataKeySpec>)?;
        Ok(Some(DataKeySize::from_parts(n, spec)?))
    }
    fn write(v: &DataKeySize, o: &mut Output, (bytes, spec): (&'static str, &'static str)) {
        match v {
            DataKeySize::Spec(s) => o.put_text(spec, s),
            DataKeySize::Bytes(n) => o.put(bytes, n.get()),
        };
    }
}

/// The legacy `CustomerMasterKeySpec` values (the ones before `KeySpec` replaced it).
const LEGACY_SPECS: usize = 13;

/// CreateKey's key spec from `(CustomerMasterKeySpec, KeySpec)`: the deprecated member or
/// its replacement, not both. Written as `KeySpec`.
pub(crate) struct RequestKeySpec;

impl Member for RequestKeySpec {
    type Value = KeySpec;
    type Names = (&'static str, &'static str);
    fn read(
        m: &mut Input,
        (legacy, spec): (&'static str, &'static str),
    ) -> Result<Option<KeySpec>, WireError> {
        let legacy = m.opt_parse(legacy, |s| {
            s.parse::<KeySpec>().map_err(|_| {
                KmsError::constraint(
                    "customerMasterKeySpec",
                    s,
                    "Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, \
                     ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, \
                     SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512, SM2]",
                )
            })
        })?;
        let spec = m.opt_parse(spec, str::parse)?;
        match (spec, legacy) {
            (Some(_), Some(_)) => Err(super::json::validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. \
                 CustomerMasterKeySpec is deprecated: use KeySpec.",
            )),
            (spec, legacy) => Ok(spec.or(legacy)),
        }
    }
    fn write(v: &KeySpec, o: &mut Output, (_, spec): (&'static str, &'static str)) {
        o.put_text(spec, v);
    }
}

/// KeyMetadata's key spec from `(KeySpec, CustomerMasterKeySpec)`: written in both when
/// the spec is one of the legacy values (as AWS answers), read from `KeySpec`.
pub(crate) struct MetadataKeySpec;

impl Member for MetadataKeySpec {
    type Value = KeySpec;
    type Names = (&'static str, &'static str);
    fn read(
        m: &mut Input,
        (spec, _): (&'static str, &'static str),
    ) -> Result<Option<KeySpec>, WireError> {
        m.opt_parse(spec, str::parse)
    }
    fn write(v: &KeySpec, o: &mut Output, (spec, legacy): (&'static str, &'static str)) {
        o.put_text(spec, v);
        if KeySpec::ALL[..LEGACY_SPECS].contains(v) {
            o.put_text(legacy, v);
        }
    }
}

/// ListKeys's `ResourceOwners`: `SELF` is what Lockbox does anyway; sharing through
/// Resource Access Manager is refused. Checked, not kept.
pub(crate) struct ResourceOwners;

impl Member for ResourceOwners {
    type Value = ();
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<()>, WireError> {
        let Some(owners) = m.opt_str_list(name)? else {
            return Ok(None);
        };
        for o in &owners {
            match o.as_str() {
                "SELF" => {}
                "OTHER_ACCOUNTS_VIA_RAM" => {
                    return Err(unsupported(format!(
                        "{} OTHER_ACCOUNTS_VIA_RAM is not supported: Lockbox shares no keys \
                         through Resource Access Manager",
                        m.wire_name(name)
                    )));
                }
                other => {
                    return Err(m.constraint(
                        name,
                        Some(other),
                        "Member must satisfy enum value set: [SELF, OTHER_ACCOUNTS_VIA_RAM]",
                    ));
                }
            }
        }
        Ok(Some(()))
    }
    fn write(_: &(), _: &mut Output, _: &'static str) {}
}

/// A nested object of shape `S`.
pub(crate) struct Nested<S>(PhantomData<S>);

impl<S: Shape> Member for Nested<S> {
    type Value = S::Value;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<S::Value>, WireError> {
        match m.opt_object(name)? {
            None => Ok(None),
            Some(mut inner) => S::read(&mut inner).map(Some),
        }
    }
    fn write(v: &S::Value, o: &mut Output, name: &'static str) {
        o.put(name, object(v, S::write));
    }
}

/// A list of objects of shape `S`.
pub(crate) struct List<S>(PhantomData<S>);

impl<S: Shape> Member for List<S> {
    type Value = Vec<S::Value>;
    type Names = &'static str;
    fn read(m: &mut Input, name: &'static str) -> Result<Option<Vec<S::Value>>, WireError> {
        // A shape's own checks (`Tag::new`) name an entry's member without its index
        // (`tags.member.tagKey`); the entry's 1-based index goes in, as AWS names it.
        let unindexed = format!("'{}.member.", m.aws_name(name));
        match m.opt_object_list(name)? {
            None => Ok(None),
            Some(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, mut item)| {
                    S::read(&mut item).map_err(|mut e| {
                        let indexed = format!("'{}.{}.member.", m.aws_name(name), i + 1);
                        e.message = e.message.replace(&unindexed, &indexed);
                        e
                    })
                })
                .collect::<Result<_, _>>()
                .map(Some),
        }
    }
    fn write(v: &Vec<S::Value>, o: &mut Output, name: &'static str) {
        o.put(
            name,
            Value::Array(v.iter().map(|item| object(item, S::write)).collect()),
        );
    }
}

fn object<T>(v: &T, write: fn(&T, &mut Output)) -> Value {
    let mut o = Output::new();
    write(v, &mut o);
    o.into_value()
}
