//! Shell-glob matching as fnmatch(3) with no flags, for `check send ...
//! expect PATTERN`.
//!
//! `*` matches any run of bytes (`/` and a leading `.` are not special),
//! `?` one byte, `[...]` a set (`!` or `^` negates, `a-z` ranges, `[:digit:]`
//! style classes, `]` first is literal), `\` makes the next byte literal.
//! The whole subject must match, so banners are usually matched as
//! `"SSH-2.0*"`. As in C, both strings end at their first NUL byte.

/// True when `subject` matches the glob `pattern` entirely.
pub fn fnmatch(pattern: &[u8], subject: &[u8]) -> bool {
    let pattern = until_nul(pattern);
    let subject = until_nul(subject);

    let (mut p, mut s) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, subject
    // index it currently stretches to). One backtrack point is enough for
    // globs because a later `*` can absorb anything an earlier one could.
    let mut star: Option<(usize, usize)> = None;

    while s < subject.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    p += 1;
                    star = Some((p, s));
                    continue;
                }
                b'?' => {
                    p += 1;
                    s += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = match_bracket(pattern, p, subject[s]) {
                        if matched {
                            p = next;
                            s += 1;
                            continue;
                        }
                    } else if subject[s] == b'[' {
                        // No closing `]`: the `[` is an ordinary byte.
                        p += 1;
                        s += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if pattern[p + 1] == subject[s] {
                        p += 2;
                        s += 1;
                        continue;
                    }
                }
                literal => {
                    if literal == subject[s] {
                        p += 1;
                        s += 1;
                        continue;
                    }
                }
            }
        }
        // Mismatch: let the last `*` swallow one more byte, or fail.
        match star {
            Some((after_star, stretched)) => {
                p = after_star;
                s = stretched + 1;
                star = Some((after_star, s));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => &bytes[..end],
        None => bytes,
    }
}

/// Matches `byte` against the bracket expression starting at `pattern[open]`
/// (`[`). Returns whether it matched and the index after the closing `]`,
/// or `None` when the expression is not closed.
fn match_bracket(pattern: &[u8], open: usize, byte: u8) -> Option<(bool, usize)> {
    let mut i = open + 1;
    let negate = matches!(pattern.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let c = *pattern.get(i)?;
        if c == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;

        if c == b'[' && pattern.get(i + 1) == Some(&b':') {
            if let Some((class, next)) = char_class(pattern, i + 2) {
                matched |= class(byte);
                i = next;
                continue;
            }
        }

        let (low, after_low) = bracket_byte(pattern, i)?;
        let is_range = pattern.get(after_low) == Some(&b'-')
            && pattern.get(after_low + 1).is_some_and(|&b| b != b']');
        if is_range {
            let (high, after_high) = bracket_byte(pattern, after_low + 1)?;
            matched |= low <= byte && byte <= high;
            i = after_high;
        } else {
            matched |= low == byte;
            i = after_low;
        }
    }
}

/// One (possibly `\`-escaped) byte inside a bracket expression.
fn bracket_byte(pattern: &[u8], i: usize) -> Option<(u8, usize)> {
    match *pattern.get(i)? {
        b'\\' => Some((*pattern.get(i + 1)?, i + 2)),
        c => Some((c, i + 1)),
    }
}

/// Tells whether a byte belongs to a `[:name:]` class.
type ClassPredicate = fn(u8) -> bool;

/// `[:name:]` starting at its name; returns the predicate and the index
/// after the closing `:]`.
fn char_class(pattern: &[u8], name_start: usize) -> Option<(ClassPredicate, usize)> {
    let rest = &pattern[name_start..];
    let name_len = rest.windows(2).position(|w| w == b":]")?;
    let predicate: ClassPredicate = match &rest[..name_len] {
        b"alnum" => |b| b.is_ascii_alphanumeric(),
        b"alpha" => |b| b.is_ascii_alphabetic(),
        b"blank" => |b| b == b' ' || b == b'\t',
        b"cntrl" => |b| b.is_ascii_control(),
        b"digit" => |b| b.is_ascii_digit(),
        b"graph" => |b| b.is_ascii_graphic(),
        b"lower" => |b| b.is_ascii_lowercase(),
        b"print" => |b| b.is_ascii_graphic() || b == b' ',
        b"punct" => |b| b.is_ascii_punctuation(),
        b"space" => |b| b.is_ascii_whitespace() || b == 0x0b,
        b"upper" => |b| b.is_ascii_uppercase(),
        b"xdigit" => |b| b.is_ascii_hexdigit(),
        _ => return None,
    };
    Some((predicate, name_start + name_len + 2))
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    fn m(p: &str, s: &str) -> bool {
        fnmatch(p.as_bytes(), s.as_bytes())
    }

    #[test]
    fn literals_and_wildcards() {
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abcd", "abc"));
        assert!(m("SSH-2.0*", "SSH-2.0-OpenSSH_9.6\r\n"));
        assert!(m("*OK*", "+OK POP3 ready\r\n"));
        assert!(!m("*OK*", "-ERR\r\n"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*", ""));
        assert!(m("", ""));
        assert!(!m("", "x"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("*/*", "a/b"), "slash is not special without FNM_PATHNAME");
        assert!(
            m("*x", ".x"),
            "leading dot is not special without FNM_PERIOD"
        );
    }

    #[test]
    fn brackets() {
        assert!(m("[abc]x", "bx"));
        assert!(!m("[abc]x", "dx"));
        assert!(m("[!abc]x", "dx"));
        assert!(m("[^abc]x", "dx"));
        assert!(m("[a-z]", "q"));
        assert!(!m("[a-z]", "Q"));
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
        assert!(m("[a-]", "-"));
        assert!(m("HTTP/1.[01] 200*", "HTTP/1.1 200 OK"));
        assert!(m("[[:digit:]][[:digit:]]", "42"));
        assert!(!m("[[:digit:]]", "x"));
        assert!(m("[", "["), "an unclosed bracket is literal");
        assert!(!m("[ab", "a"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("a\\?", "a?"));
        assert!(m("[\\]]", "]"));
    }

    #[test]
    fn stops_at_nul_like_c() {
        assert!(fnmatch(b"abc", b"abc\0trailing"));
        assert!(fnmatch(b"ab*", b"ab\0"));
    }

    #[test]
    fn many_stars_do_not_blow_up() {
        let subject = "a".repeat(2000);
        let pattern = "*a".repeat(50) + "b";
        assert!(!m(&pattern, &subject));
    }
}
