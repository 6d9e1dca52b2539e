//! Resource tags.

use crate::error::{ErrorKind, KmsError};
use crate::ids::shorten;

/// The most tags one key may carry.
pub const MAX_TAGS_PER_KEY: usize = 50;

/// A tag: a key of 1..=128 characters and a value of 0..=256 characters, each made of
/// Unicode letters, digits, white space and `_ . : / = + - @`. Keys starting with `aws:`
/// (in any case) are reserved for AWS.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tag {
    key: String,
    value: String,
}

impl Tag {
    /// Checks and builds a tag.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Result<Self, KmsError> {
        let key = key.into();
        let value = value.into();
        check_tag_key(&key)?;
        let n = value.chars().count();
        if n > 256 {
            return Err(KmsError::constraint(
                "tags.member.tagValue",
                shorten(&value),
                "Member must have length less than or equal to 256",
            ));
        }
        if !value.chars().all(allowed) {
            return Err(KmsError::new(
                ErrorKind::Tag,
                format!(
                    "Tag value '{}' contains characters other than letters, digits, \
                     white space and _ . : / = + - @",
                    shorten(&value)
                ),
            ));
        }
        Ok(Tag { key, value })
    }

    /// The tag key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The tag value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// Checks a tag key as `Tag::new` does (used alone by UntagResource).
pub fn check_tag_key(key: &str) -> Result<(), KmsError> {
    let n = key.chars().count();
    if n == 0 || n > 128 {
        return Err(KmsError::constraint(
            "tags.member.tagKey",
            shorten(key),
            &crate::error::length_rule(n, 128),
        ));
    }
    if !key.chars().all(allowed) {
        return Err(KmsError::new(
            ErrorKind::Tag,
            format!(
                "Tag key '{}' contains characters other than letters, digits, white space \
                 and _ . : / = + - @",
                shorten(key)
            ),
        ));
    }
    // AWS reserves the prefix in any case ("AWS:", "Aws:" too).
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(KmsError::new(
            ErrorKind::Tag,
            format!("Tag key '{}' uses the reserved prefix aws:", shorten(key)),
        ));
    }
    Ok(())
}

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_rules() {
        assert!(Tag::new("Purpose", "test data").is_ok());
        assert!(Tag::new("Ключ", "").is_ok());
        assert_eq!(Tag::new("", "v").unwrap_err().kind(), ErrorKind::Validation);
        assert_eq!(
            Tag::new("k".repeat(129), "v").unwrap_err().kind(),
            ErrorKind::Validation
        );
        assert!(Tag::new("k".repeat(128), "v".repeat(256)).is_ok());
        assert_eq!(
            Tag::new("k", "v".repeat(257)).unwrap_err().kind(),
            ErrorKind::Validation
        );
        for reserved in ["aws:x", "AWS:x", "Aws:x", "aWs:"] {
            assert_eq!(
                Tag::new(reserved, "v").unwrap_err().kind(),
                ErrorKind::Tag,
                "{reserved}"
            );
        }
        assert!(Tag::new("awsx", "v").is_ok());
        assert!(Tag::new("é:aws", "v").is_ok());
        assert_eq!(Tag::new("a;b", "v").unwrap_err().kind(), ErrorKind::Tag);
        assert_eq!(Tag::new("a", "v{").unwrap_err().kind(), ErrorKind::Tag);
    }
}
