//! Encryption context serialization (the header's AAD field), bounded and total.
//!
//! Layout: u16 BE pair count, then per pair, sorted by key bytes when written: u16 BE key
//! length, key (UTF-8), u16 BE value length, value (UTF-8). An empty context serializes to
//! no bytes at all (the header's AAD length is then 0). Readers accept pairs in any order
//! (the header authentication covers the bytes as written) but never a repeated key.

use std::collections::BTreeMap;

impl std::fmt::Display for ContextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContextError::Truncated(what) => write!(f, "encryption context ends in a {what}"),
            ContextError::NotUtf8 => f.write_str("encryption context key or value is not UTF-8"),
            ContextError::DuplicateKey => f.write_str("encryption context repeats a key"),
            ContextError::TrailingBytes => {
                f.write_str("encryption context has bytes after its last pair")
            }
            ContextError::ZeroCount => {
                f.write_str("encryption context is present but declares zero pairs")
            }
            ContextError::TooLong => f.write_str(
                "encryption context does not fit the format: more than 65535 pairs, or a key, \
                 value or the whole longer than 65535 bytes",
            ),
        }
    }
}

/// Why a serialized encryption context was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContextError {
    /// The bytes ended before the named field.
    Truncated(&'static str),
    /// A key or value was not UTF-8.
    NotUtf8,
    /// A key appeared twice.
    DuplicateKey,
    /// Bytes were left after the last pair.
    TrailingBytes,
    /// A present context declared zero pairs.
    ZeroCount,
    /// A key or value or the pair count exceeds u16.
    TooLong,
}

/// Serializes `ctx`; an empty context gives an empty vector.
pub fn serialize(ctx: &BTreeMap<String, String>) -> Result<Vec<u8>, ContextError> {
    if ctx.is_empty() {
        return Ok(Vec::new());
    }
    let count = u16::try_from(ctx.len()).map_err(|_| ContextError::TooLong)?;
    let mut out = count.to_be_bytes().to_vec();
    // BTreeMap<String, _> iterates in byte order of the keys, which is the canonical order.
    for (k, v) in ctx {
        for s in [k, v] {
            let len = u16::try_from(s.len()).map_err(|_| ContextError::TooLong)?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    if out.len() > usize::from(u16::MAX) {
        return Err(ContextError::TooLong);
    }
    Ok(out)
}

/// Parses bytes made by [`serialize`]; never panics.
pub fn parse(bytes: &[u8]) -> Result<BTreeMap<String, String>, ContextError> {
    let mut ctx = BTreeMap::new();
    if bytes.is_empty() {
        return Ok(ctx);
    }
    let mut rest = bytes;
    let count = take_u16(&mut rest, "pair count")?;
    if count == 0 {
        return Err(ContextError::ZeroCount);
    }
    for _ in 0..count {
        let k = take_str(&mut rest, "key")?;
        let v = take_str(&mut rest, "value")?;
        if ctx.insert(k, v).is_some() {
            return Err(ContextError::DuplicateKey);
        }
    }
    if !rest.is_empty() {
        return Err(ContextError::TrailingBytes);
    }
    Ok(ctx)
}

fn take_u16(rest: &mut &[u8], what: &'static str) -> Result<u16, ContextError> {
    match rest {
        [a, b, tail @ ..] => {
            let n = u16::from_be_bytes([*a, *b]);
            *rest = tail;
            Ok(n)
        }
        _ => Err(ContextError::Truncated(what)),
    }
}

fn take_str(rest: &mut &[u8], what: &'static str) -> Result<String, ContextError> {
    let len = usize::from(take_u16(rest, what)?);
    if rest.len() < len {
        return Err(ContextError::Truncated(what));
    }
    let (s, tail) = rest.split_at(len);
    *rest = tail;
    String::from_utf8(s.to_vec()).map_err(|_| ContextError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() -> Result<(), ContextError> {
        let ctx = BTreeMap::from([
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ]);
        let bytes = serialize(&ctx)?;
        assert_eq!(
            bytes,
            [0, 2, 0, 1, b'a', 0, 1, b'1', 0, 1, b'b', 0, 1, b'2']
        );
        assert_eq!(parse(&bytes)?, ctx);
        for n in 1..bytes.len() {
            assert!(parse(&bytes[..n]).is_err(), "truncated at {n}");
        }
        assert_eq!(serialize(&BTreeMap::new())?, Vec::<u8>::new());
        assert_eq!(parse(&[])?, BTreeMap::new());
        Ok(())
    }

    #[test]
    fn accepts_any_order_but_rejects_repeats_and_trailing() {
        let swapped = [0, 2, 0, 1, b'b', 0, 0, 0, 1, b'a', 0, 0];
        assert_eq!(
            parse(&swapped),
            Ok(BTreeMap::from([
                ("a".to_owned(), String::new()),
                ("b".to_owned(), String::new())
            ]))
        );
        let repeated = [0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 1, b'x'];
        assert_eq!(parse(&repeated), Err(ContextError::DuplicateKey));
        assert_eq!(parse(&[0, 0]), Err(ContextError::ZeroCount));
        assert_eq!(
            parse(&[0, 1, 0, 0, 0, 0, 9]),
            Err(ContextError::TrailingBytes)
        );
    }
}
