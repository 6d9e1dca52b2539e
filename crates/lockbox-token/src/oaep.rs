//! EME-OAEP encoding and decoding with SHA-256 (MGF1-SHA-256, empty label), RFC 8017 §7.1,
//! for tokens that cannot do RSAES-OAEP with SHA-256 themselves (SoftHSM 2.6.1 does OAEP with
//! SHA-1 only).
//!
//! Only the padding is done here; the RSA operation stays in the token: `CKM_RSA_X_509` with
//! the public object to encrypt, with the private object to decrypt (see
//! `docs/formats/asymmetric.md`). Decoding runs in constant time and has exactly one failure,
//! [`DecodeError`], whatever check failed: the first byte not zero, the label hash wrong, no
//! `0x01` separator, or a non-zero byte before it. Telling those apart, even by timing, is
//! the padding oracle of Manger's attack (see `docs/SECURITY.md`).

use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

/// The SHA-256 output length (hLen).
pub const SHA256_LEN: usize = 32;

/// SHA-256 of the empty label: what every Lockbox OAEP ciphertext is bound to (AWS uses no
/// label).
const EMPTY_LABEL_SHA256: [u8; SHA256_LEN] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The encoded message was not a valid EME-OAEP encoding. Deliberately says no more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError;

/// The longest message OAEP with a hash of `hash_len` bytes can carry in a modulus of
/// `modulus_len` bytes: `k - 2 hLen - 2` (0 if the modulus is too small for any).
pub fn max_message_len(modulus_len: usize, hash_len: usize) -> usize {
    modulus_len.saturating_sub(2 * hash_len + 2)
}

/// EME-OAEP-SHA-256 encoding of `message` for a modulus of `modulus_len` bytes with the
/// given `seed` (which must be fresh random bytes; it is a parameter so that the encoding
/// can be checked against other implementations). `None` if the message is too long.
pub fn encode_sha256(
    modulus_len: usize,
    message: &[u8],
    seed: &[u8; SHA256_LEN],
) -> Option<Zeroizing<Vec<u8>>> {
    let k = modulus_len;
    if k < 2 * SHA256_LEN + 2 || message.len() > max_message_len(k, SHA256_LEN) {
        return None;
    }
    // EM = 0x00 || maskedSeed || maskedDB, DB = lHash || PS || 0x01 || M.
    let mut em = Zeroizing::new(vec![0u8; k]);
    let (seed_part, db) = em[1..].split_at_mut(SHA256_LEN);
    db[..SHA256_LEN].copy_from_slice(&EMPTY_LABEL_SHA256);
    let m_start = db.len() - message.len();
    db[m_start - 1] = 0x01;
    db[m_start..].copy_from_slice(message);
    mgf1_sha256_xor(seed, db);
    seed_part.copy_from_slice(seed);
    mgf1_sha256_xor(db, seed_part);
    Some(em)
}

/// Decodes an EME-OAEP-SHA-256 encoded message `em` (exactly the modulus length, as the
/// raw RSA decryption returned it, left-padded with zeros) into the message.
///
/// Constant time in the content of `em`: every check is computed over the whole block and
/// combined without branching, and the one answer is taken at the end.
pub fn decode_sha256(em: &[u8]) -> Result<Zeroizing<Vec<u8>>, DecodeError> {
    let k = em.len();
    // The length is public (the modulus length), not a property of the plaintext.
    if k < 2 * SHA256_LEN + 2 {
        return Err(DecodeError);
    }
    let y = em[0];
    let (masked_seed, masked_db) = em[1..].split_at(SHA256_LEN);
    let mut seed = Zeroizing::new([0u8; SHA256_LEN]);
    seed.copy_from_slice(masked_seed);
    mgf1_sha256_xor(masked_db, &mut seed[..]);
    let mut db = Zeroizing::new(masked_db.to_vec());
    mgf1_sha256_xor(&seed[..], &mut db);

    let (label_hash, rest) = db.split_at(SHA256_LEN);
    let mut good = y.ct_eq(&0) & label_hash.ct_eq(&EMPTY_LABEL_SHA256[..]);
    // Find the first 0x01 after PS; every byte before it must be zero.
    let mut looking = Choice::from(1);
    let mut separator = 0u32;
    for (i, b) in rest.iter().enumerate() {
        let is_one = b.ct_eq(&1);
        let is_zero = b.ct_eq(&0);
        // `i` is below the modulus length, far below u32::MAX.
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        separator.conditional_assign(&i, looking & is_one);
        good &= !looking | is_zero | is_one;
        looking &= !is_one;
    }
    good &= !looking;
    if !bool::from(good) {
        return Err(DecodeError);
    }
    let start = usize::try_from(separator).map_err(|_| DecodeError)? + 1;
    Ok(Zeroizing::new(rest[start..].to_vec()))
}

/// `out ^= MGF1-SHA-256(seed, out.len())`.
fn mgf1_sha256_xor(seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in out.chunks_mut(SHA256_LEN).enumerate() {
        let mut h = Sha256::new();
        h.update(seed);
        // At most a few hundred chunks for any RSA modulus.
        h.update(u32::try_from(counter).unwrap_or(u32::MAX).to_be_bytes());
        let mask = h.finalize();
        for (o, m) in chunk.iter_mut().zip(mask.iter()) {
            *o ^= m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_hash_is_sha256_of_nothing() {
        assert_eq!(Sha256::digest(b"")[..], EMPTY_LABEL_SHA256[..]);
    }

    #[test]
    fn limits_are_k_minus_two_hashes_minus_two() {
        for (k, sha1, sha256) in [(256, 214, 190), (384, 342, 318), (512, 470, 446)] {
            assert_eq!(max_message_len(k, 20), sha1);
            assert_eq!(max_message_len(k, SHA256_LEN), sha256);
        }
        assert_eq!(max_message_len(10, SHA256_LEN), 0);
    }

    #[test]
    fn encoding_round_trips_at_every_length_up_to_the_limit_and_refuses_one_more() {
        let seed = [7u8; SHA256_LEN];
        for len in 0..=190 {
            let m: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            let em = encode_sha256(256, &m, &seed).unwrap();
            assert_eq!(em.len(), 256);
            assert_eq!(em[0], 0);
            assert_eq!(decode_sha256(&em).unwrap().as_slice(), m.as_slice());
        }
        assert!(encode_sha256(256, &[0; 191], &seed).is_none());
        assert!(encode_sha256(65, b"", &seed).is_none());
        assert_eq!(encode_sha256(66, b"", &seed).unwrap().len(), 66);
    }

    #[test]
    fn every_single_bit_flip_is_the_same_error() {
        let em = encode_sha256(256, b"attack at dawn", &[1; SHA256_LEN]).unwrap();
        for byte in 0..em.len() {
            for bit in 0..8 {
                let mut bad = em.clone();
                bad[byte] ^= 1 << bit;
                assert_eq!(
                    decode_sha256(&bad),
                    Err(DecodeError),
                    "byte {byte} bit {bit}"
                );
            }
        }
        assert_eq!(decode_sha256(&[0u8; 65]), Err(DecodeError));
        assert_eq!(decode_sha256(&[0u8; 256]), Err(DecodeError));
    }

    #[test]
    fn a_block_without_a_separator_or_with_junk_before_it_is_refused() {
        // Build DB by hand, mask it with a known seed, and check each defect alone.
        let k = 128;
        let build = |db_tail: &[u8]| {
            let mut db = EMPTY_LABEL_SHA256.to_vec();
            db.extend_from_slice(db_tail);
            assert_eq!(db.len(), k - SHA256_LEN - 1);
            let seed = [9u8; SHA256_LEN];
            mgf1_sha256_xor(&seed, &mut db);
            let mut masked_seed = seed;
            mgf1_sha256_xor(&db, &mut masked_seed);
            let mut em = vec![0u8];
            em.extend_from_slice(&masked_seed);
            em.extend_from_slice(&db);
            em
        };
        let tail = k - 2 * SHA256_LEN - 1;
        let mut ok = vec![0u8; tail];
        ok[tail - 3] = 1;
        ok[tail - 2..].copy_from_slice(b"hi");
        assert_eq!(decode_sha256(&build(&ok)).unwrap().as_slice(), b"hi");
        // An empty message: the separator is the last byte.
        let mut empty = vec![0u8; tail];
        empty[tail - 1] = 1;
        assert_eq!(decode_sha256(&build(&empty)).unwrap().as_slice(), b"");
        assert_eq!(decode_sha256(&build(&vec![0u8; tail])), Err(DecodeError));
        let mut junk = ok.clone();
        junk[0] = 2;
        assert_eq!(decode_sha256(&build(&junk)), Err(DecodeError));
        let mut first_nonzero = build(&ok);
        first_nonzero[0] = 1;
        assert_eq!(decode_sha256(&first_nonzero), Err(DecodeError));
    }
}
