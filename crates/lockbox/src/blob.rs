//! The ciphertext blob: what Encrypt, GenerateDataKey and ReEncrypt return and Decrypt takes.
//!
//! Specified in `docs/formats/ciphertext-blob.md`. Layout:
//!
//! ```text
//! offset  size  field
//! 0       1     format version: 0x01 (key id is a UUID), 0x02 (a multi-Region `mrk-` id)
//! 1       16    key id (its 16 bytes)
//! 17      4     material version (u32, big-endian)
//! 21      1     algorithm: 0x01 = AES-256-GCM, 96-bit IV, 128-bit tag
//! 22      12    IV
//! 34      n     ciphertext (n = plaintext length, 1..=4096)
//! 34+n    16    tag
//! ```
//!
//! The associated data is the 22-byte header (offsets 0..22) followed by the canonical
//! encoding of the encryption context. The IV is not part of the associated data: it is the
//! GCM nonce, so any change to it fails the tag check as surely. Parsing checks lengths and
//! the fixed fields only; everything else is for the tag to decide.

use lockbox_api::{KeyId, MAX_CIPHERTEXT_LEN, MAX_PLAINTEXT_LEN};

/// The format version of a blob whose key id is a UUID.
pub const FORMAT_V1: u8 = 0x01;
/// The format version of a blob whose key id is a multi-Region (`mrk-`) id; otherwise the
/// same layout as [`FORMAT_V1`].
pub const FORMAT_V2_MULTI_REGION: u8 = 0x02;
/// AES-256-GCM with a 96-bit IV and a 128-bit tag.
pub const ALG_AES_256_GCM: u8 = 0x01;
/// Every algorithm byte this format defines. Which one a blob gets is its key kind's choice.
pub const ALGORITHMS: &[u8] = &[ALG_AES_256_GCM];
/// Bytes before the IV; these are the authenticated header.
pub const HEADER_LEN: usize = 22;
/// IV length.
pub const IV_LEN: usize = 12;
/// Tag length.
pub const TAG_LEN: usize = 16;
/// Fixed overhead of a blob over its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + IV_LEN + TAG_LEN;
/// The shortest blob (1 byte of plaintext).
pub const MIN_LEN: usize = OVERHEAD + 1;
/// The longest blob (4096 bytes of plaintext).
pub const MAX_LEN: usize = OVERHEAD + MAX_PLAINTEXT_LEN;

const _: () = assert!(MAX_LEN <= MAX_CIPHERTEXT_LEN);

/// A parsed blob, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob<'a> {
    /// The key that made it.
    pub key_id: KeyId,
    /// The material version of that key.
    pub material_version: u32,
    /// The algorithm byte (one of [`ALGORITHMS`]).
    pub algorithm: u8,
    /// The authenticated header bytes (offsets 0..22).
    pub header: &'a [u8],
    /// The IV.
    pub iv: [u8; IV_LEN],
    /// Ciphertext followed by the tag.
    pub sealed: &'a [u8],
}

/// Parses a blob. Total and bounded: any input gives `Some` or `None` after reading a few
/// fixed offsets, and `None` says nothing about why.
pub fn parse(bytes: &[u8]) -> Option<Blob<'_>> {
    if !(MIN_LEN..=MAX_LEN).contains(&bytes.len()) {
        return None;
    }
    let (header, rest) = bytes.split_at(HEADER_LEN);
    if !matches!(header[0], FORMAT_V1 | FORMAT_V2_MULTI_REGION) || !ALGORITHMS.contains(&header[21])
    {
        return None;
    }
    let key_id = KeyId::from_bytes(header[1..17].try_into().ok()?);
    // The version byte says which kind of id the blob names; the id's bytes must agree.
    if key_id.is_multi_region() != (header[0] == FORMAT_V2_MULTI_REGION) {
        return None;
    }
    let material_version = u32::from_be_bytes(header[17..21].try_into().ok()?);
    let (iv, sealed) = rest.split_at(IV_LEN);
    Some(Blob {
        key_id,
        material_version,
        algorithm: header[21],
        header,
        iv: iv.try_into().ok()?,
        sealed,
    })
}

/// Writes the header for `algorithm` (one of [`ALGORITHMS`]) and `key_id`/`material_version`
/// into a new buffer sized for a blob of `plaintext_len` bytes: header, then zeroed IV,
/// ciphertext and tag for the caller to fill.
pub fn allocate(
    algorithm: u8,
    key_id: KeyId,
    material_version: u32,
    plaintext_len: usize,
) -> Vec<u8> {
    // One zeroed allocation (calloc's memset), then the header over its start: growing the
    // buffer with `resize` wrote the zeros a byte at a time, about 4,000 instructions for a
    // 4 KiB blob.
    let mut blob = vec![0u8; OVERHEAD + plaintext_len];
    blob[0] = if key_id.is_multi_region() {
        FORMAT_V2_MULTI_REGION
    } else {
        FORMAT_V1
    };
    blob[1..17].copy_from_slice(key_id.as_bytes());
    blob[17..21].copy_from_slice(&material_version.to_be_bytes());
    blob[21] = algorithm;
    blob
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_matches_the_spec() {
        let id = KeyId::from_random_bytes([0xab; 16]);
        let mut b = allocate(ALG_AES_256_GCM, id, 0x0102_0304, 3);
        assert_eq!(b.len(), 22 + 12 + 3 + 16);
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..17], id.as_bytes());
        assert_eq!(&b[17..21], &[1, 2, 3, 4]);
        assert_eq!(b[21], 1);
        b[22..34].copy_from_slice(&[9; 12]);
        let p = parse(&b).unwrap();
        assert_eq!(
            (
                p.key_id,
                p.material_version,
                p.iv,
                p.header.len(),
                p.sealed.len()
            ),
            (id, 0x0102_0304, [9; 12], 22, 19)
        );
    }

    #[test]
    fn rejects_wrong_lengths_versions_and_algorithms() {
        let id = KeyId::from_random_bytes([1; 16]);
        assert!(parse(&allocate(ALG_AES_256_GCM, id, 1, 1)).is_some());
        assert!(parse(&allocate(ALG_AES_256_GCM, id, 1, 4096)).is_some());
        assert!(parse(&allocate(ALG_AES_256_GCM, id, 1, 1)[..MIN_LEN - 1]).is_none());
        assert!(parse(&allocate(ALG_AES_256_GCM, id, 1, 4097)).is_none());
        assert!(parse(&[]).is_none());
        let mut v = allocate(ALG_AES_256_GCM, id, 1, 8);
        v[0] = 3;
        assert!(parse(&v).is_none());
        // The version byte and the id's kind must agree.
        v[0] = FORMAT_V2_MULTI_REGION;
        assert!(parse(&v).is_none());
        let mrk = KeyId::new_multi_region([1; 16]);
        let mut m = allocate(ALG_AES_256_GCM, mrk, 1, 8);
        assert_eq!(m[0], FORMAT_V2_MULTI_REGION);
        assert_eq!(parse(&m).map(|b| b.key_id), Some(mrk));
        m[0] = FORMAT_V1;
        assert!(parse(&m).is_none());
        let mut a = allocate(ALG_AES_256_GCM, id, 1, 8);
        a[21] = 0;
        assert!(parse(&a).is_none());
    }

    proptest! {
        #[test]
        fn parsing_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
            if let Some(b) = parse(&bytes) {
                prop_assert_eq!(b.header.len() + IV_LEN + b.sealed.len(), bytes.len());
                prop_assert!(b.sealed.len() > TAG_LEN);
            }
        }

        /// Random bytes rarely get past the version byte; damaged real blobs do.
        #[test]
        fn damaged_blobs_parse_to_exactly_what_they_hold(
            len in 1usize..=4096,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            cut in any::<usize>(),
        ) {
            let mut b = allocate(ALG_AES_256_GCM, KeyId::from_random_bytes([3; 16]), 7, len);
            for (pos, val) in edits {
                let i = pos % b.len();
                b[i] = val;
            }
            b.truncate(1 + cut % b.len());
            match parse(&b) {
                Some(p) => {
                    prop_assert!(b[0] == FORMAT_V1 && b[21] == ALG_AES_256_GCM && b.len() >= MIN_LEN);
                    prop_assert!(!p.key_id.is_multi_region());
                    prop_assert_eq!(p.header, &b[..HEADER_LEN]);
                    prop_assert_eq!(&p.iv[..], &b[HEADER_LEN..HEADER_LEN + IV_LEN]);
                    prop_assert_eq!(p.sealed, &b[HEADER_LEN + IV_LEN..]);
                    prop_assert_eq!(p.key_id.as_bytes(), &b[1..17]);
                }
                None => prop_assert!(
                    b[0] != FORMAT_V1
                        || b[21.min(b.len() - 1)] != ALG_AES_256_GCM
                        || b.len() < MIN_LEN
                        || KeyId::from_bytes(b[1..17].try_into().unwrap_or([0; 16])).is_multi_region()
                ),
            }
        }
    }
}
