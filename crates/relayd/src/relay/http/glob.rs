//! Shell globs as relayd matches filter rule keys and values with
//! fnmatch(3) without FNM_PATHNAME: `*` and `?` cross `/`, `[...]`
//! classes with ranges and `!`/`^` negation, `\` escapes.

/// Whether `text` matches `pattern`; `fold` ignores ASCII case.
pub fn matches(pattern: &str, text: &str, fold: bool) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    match_from(&pattern, &text, fold)
}

fn same(a: char, b: char, fold: bool) -> bool {
    if fold {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Iterative matcher with one backtracking point for the last `*`, which
/// is enough for globs and keeps long inputs linear-ish.
fn match_from(pattern: &[char], text: &[char], fold: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some('?') => Some(p + 1),
            Some('[') => class(pattern, p, text[t], fold),
            Some('\\') if p + 1 < pattern.len() => {
                same(pattern[p + 1], text[t], fold).then_some(p + 2)
            }
            Some(&c) => same(c, text[t], fold).then_some(p + 1),
            None => None,
        };
        match step {
            Some(next) => {
                p = next;
                t += 1;
            }
            None => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `pattern[start] == '['`;
/// the index after the class on success. An unclosed `[` is a literal.
fn class(pattern: &[char], start: usize, c: char, fold: bool) -> Option<usize> {
    let mut i = start + 1;
    let negated = matches!(pattern.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    let literal = || same('[', c, fold).then_some(start + 1);
    loop {
        let Some(&low) = pattern.get(i) else {
            return literal();
        };
        if low == ']' && !first {
            break;
        }
        first = false;
        if pattern.get(i + 1) == Some(&'-') && pattern.get(i + 2).is_some_and(|&h| h != ']') {
            let high = pattern[i + 2];
            let (lc, ll, lh) = if fold {
                (
                    c.to_ascii_lowercase(),
                    low.to_ascii_lowercase(),
                    high.to_ascii_lowercase(),
                )
            } else {
                (c, low, high)
            };
            found |= ll <= lc && lc <= lh;
            i += 3;
        } else {
            found |= same(low, c, fold);
            i += 1;
        }
    }
    (found != negated).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs_match_as_fnmatch_does() {
        assert!(matches("*", "", false));
        assert!(matches("/images/*", "/images/a/b.png", false));
        assert!(!matches("/images/*", "/img/a", false));
        assert!(matches("*.example.com", "www.Example.COM", true));
        assert!(!matches("*.example.com", "www.Example.COM", false));
        assert!(matches("a?c", "abc", false));
        assert!(matches("[a-c]x", "bx", false));
        assert!(!matches("[!a-c]x", "bx", false));
        assert!(matches("\\*", "*", false));
        assert!(!matches("\\*", "x", false));
        assert!(matches("*a*b*c", "xxaxxbxxc", false));
        assert!(!matches("*a*b*c", "xxaxxcxxb", false));
        assert!(matches("[x", "[x", false));
    }
}
