//! Wildcard matching (`*`, `?`), ARN patterns and the numbers numeric operators compare.

/// A pattern with `*` (any run of characters, also none) and `?` (exactly one character).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Glob {
    pattern: Box<str>,
    /// False when the pattern has no wildcard: matching is then a plain comparison.
    wild: bool,
}

impl Glob {
    pub(super) fn new(pattern: &str) -> Self {
        Self {
            pattern: pattern.into(),
            wild: pattern.contains(['*', '?']),
        }
    }

    /// The same pattern lower-cased (ASCII), for [`Glob::matches_ignore_ascii_case`].
    pub(super) fn new_ascii_lowercase(pattern: &str) -> Self {
        Self::new(&pattern.to_ascii_lowercase())
    }

    /// Case-sensitive match.
    pub(super) fn matches(&self, text: &str) -> bool {
        if self.wild {
            wildcard_match(self.pattern.as_bytes(), text.as_bytes(), false)
        } else {
            *self.pattern == *text
        }
    }

    /// ASCII case-insensitive match; the pattern must have been built lower-case.
    pub(super) fn matches_ignore_ascii_case(&self, text: &str) -> bool {
        if self.wild {
            wildcard_match(self.pattern.as_bytes(), text.as_bytes(), true)
        } else {
            self.pattern.eq_ignore_ascii_case(text)
        }
    }
}

/// An ARN pattern: `arn:` and five colon-separated segments (the last may hold colons), each
/// matched on its own so a wildcard never spans a colon, as IAM's ArnLike does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ArnPattern {
    /// Partition, service, region, account, resource.
    segments: [Glob; 5],
}

impl ArnPattern {
    /// `None` when `pattern` is not of the form `arn:p:s:r:a:resource`.
    pub(super) fn new(pattern: &str) -> Option<Self> {
        let [p, s, r, a, res] = arn_segments(pattern)?;
        Some(Self {
            segments: [p, s, r, a, res].map(Glob::new),
        })
    }

    /// Case-sensitive, segment by segment.
    pub(super) fn matches(&self, arn: &str) -> bool {
        match arn_segments(arn) {
            Some(parts) => self
                .segments
                .iter()
                .zip(parts)
                .all(|(g, part)| g.matches(part)),
            None => false,
        }
    }
}

/// The five segments after `arn:`, without allocating; `None` when there are fewer.
fn arn_segments(arn: &str) -> Option<[&str; 5]> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let segments = [
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    ];
    Some(segments)
}

/// A decimal number as IAM's numeric operators take it: optional `-`, digits, optional
/// fraction. Anything else (exponents, `inf`, `NaN`, blanks) is no number.
pub(super) fn parse_number(text: &str) -> Option<f64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    text.parse().ok()
}

/// Iterative wildcard match with single-star backtracking: linear in practice, no recursion,
/// no allocation. `?` consumes one whole UTF-8 character of `text`. With `fold`, bytes of
/// `text` are ASCII-lower-cased before comparing (the pattern already is).
fn wildcard_match(pattern: &[u8], text: &[u8], fold: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: pattern index past it, and text index it covers to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(b'?') => {
                p += 1;
                t += char_len(text, t);
                continue;
            }
            Some(&c) => {
                let b = if fold {
                    text[t].to_ascii_lowercase()
                } else {
                    text[t]
                };
                if c == b {
                    p += 1;
                    t += 1;
                    continue;
                }
            }
            None => {}
        }
        match star {
            Some((after_star, covered)) => {
                let covered = covered + char_len(text, covered);
                star = Some((after_star, covered));
                p = after_star;
                t = covered;
            }
            None => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// The length of the UTF-8 character starting at `text[at]` (1 for a stray byte).
fn char_len(text: &[u8], at: usize) -> usize {
    match text.get(at) {
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(b) if *b >= 0xC0 => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("?", "é", true),
            ("??", "é", false),
            ("*b*b*", "abab", true),
            ("*b*b*", "ab", false),
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("a**", "a", true),
            ("", "", true),
            ("", "a", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                Glob::new(pattern).matches(text),
                expected,
                "{pattern:?} vs {text:?}"
            );
        }
        assert!(Glob::new_ascii_lowercase("Kms:GEN*").matches_ignore_ascii_case("kms:GenerateMac"));
        assert!(!Glob::new("Gen*").matches("gen"));
    }

    #[test]
    fn arn_patterns_match_segment_by_segment() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/1234";
        let pattern = |p| ArnPattern::new(p).unwrap();
        assert!(pattern("arn:aws:kms:*:111122223333:key/*").matches(key));
        assert!(pattern("arn:*:*:*:*:*").matches(key));
        // A star stays inside its segment.
        assert!(!pattern("arn:aws:s3:*:bucket/a:b").matches("arn:aws:s3:::bucket/a:b"));
        assert!(!pattern("arn:aws:kms:*:444455556666:key/*").matches(key));
        assert!(pattern("arn:aws:s3:::bucket/a:b").matches("arn:aws:s3:::bucket/a:b"));
        assert!(ArnPattern::new("arn:aws:kms").is_none());
        assert!(!pattern("arn:*:*:*:*:*").matches("not-an-arn"));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("30"), Some(30.0));
        assert_eq!(parse_number("-1.5"), Some(-1.5));
        for bad in ["", "-", "1.", ".5", "1e3", "inf", "NaN", " 1", "0x10", "+1"] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }
}
