//! How single values are spelled in relayd.conf: quoted strings, addresses,
//! prefixes and port ranges. Kept apart so every section prints values the
//! same way and the parser reads them back unchanged.

use crate::model::{PortRange, Prefix};
use std::net::IpAddr;

/// A double-quoted string that relayd's lexer reads back unchanged.
///
/// That lexer treats `\` as an escape only before the quote, a blank or a
/// newline, and keeps it literally before anything else. So `"` becomes
/// `\"`, a backslash before a blank is doubled, and a trailing backslash
/// is doubled and followed by an escaped newline (which the lexer drops),
/// so that it does not escape the closing quote. A newline inside a value
/// has no spelling in relayd.conf: the lexer drops it.
pub fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => match chars.peek() {
                None => out.push_str("\\\\\n"),
                Some(' ' | '\t') => out.push_str("\\\\"),
                Some(_) => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A table name inside `<...>`: bare when it is a plain word, quoted when
/// it holds characters the lexer would split on or expand (`$`).
pub fn table_name(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'));
    if plain {
        format!("<{name}>")
    } else {
        format!("<{}>", quoted(name))
    }
}

/// An address as relayd.conf accepts it where a host is expected: IPv4 in
/// dotted quads, IPv6 in its canonical compressed form (`2001:db8::1`).
pub fn address(addr: &IpAddr) -> String {
    addr.to_string()
}

/// `addr/len`, as in `route 10.0.0.0/8` or `from 2001:db8::/32`.
pub fn prefix(prefix: &Prefix) -> String {
    format!("{}/{}", address(&prefix.addr), prefix.len)
}

/// `80` for a single port, `8000:8010` for a range.
pub fn port_range(range: &PortRange) -> String {
    if range.lo == range.hi {
        range.lo.to_string()
    } else {
        format!("{}:{}", range.lo, range.hi)
    }
}

/// A host of a table as it was written: addresses are printed bare, names
/// quoted (a name may look like a keyword or start with a digit).
pub fn host_name(name: &str) -> String {
    match name.parse::<IpAddr>() {
        Ok(addr) => address(&addr),
        Err(_) => quoted(name),
    }
}

/// Lower-case hex digits of `bytes`, for `check binary`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What relayd's lexer makes of the inside of a quoted string.
    fn unquote(text: &str) -> String {
        let inner = &text[1..text.len() - 1];
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.peek() {
                    Some('"' | ' ' | '\t') => out.push(chars.next().unwrap()),
                    Some('\n') => {
                        chars.next();
                    }
                    _ => out.push('\\'),
                }
            } else if c != '\n' {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn quoting_escapes_quotes_and_keeps_backslashes() {
        assert_eq!(quoted(r#"a "b""#), r#""a \"b\"""#);
        assert_eq!(quoted(r"GET /\r\n"), r#""GET /\r\n""#);
        assert_eq!(quoted(""), r#""""#);
    }

    #[test]
    fn quoted_strings_read_back_unchanged() {
        for value in [
            r"plain",
            r#"a "quoted" word"#,
            r"back\slash",
            r"two \\ backslashes",
            r"before\ blank",
            "before\\\ttab",
            r#"before\"quote"#,
            r"trailing\",
            r"trailing\\",
            "tab\there",
        ] {
            assert_eq!(
                unquote(&quoted(value)),
                value,
                "{value:?} -> {}",
                quoted(value)
            );
        }
    }

    #[test]
    fn table_names_are_quoted_only_when_needed() {
        assert_eq!(table_name("web-1.a"), "<web-1.a>");
        assert_eq!(table_name("$x y"), "<\"$x y\">");
    }

    #[test]
    fn ipv6_addresses_and_prefixes_use_the_compressed_form() {
        let addr: IpAddr = "2001:db8:0:0::1".parse().unwrap();
        assert_eq!(address(&addr), "2001:db8::1");
        let net = Prefix {
            addr: "2001:db8::".parse().unwrap(),
            len: 32,
        };
        assert_eq!(prefix(&net), "2001:db8::/32");
    }

    #[test]
    fn port_ranges_print_as_lo_colon_hi() {
        assert_eq!(port_range(&PortRange { lo: 80, hi: 80 }), "80");
        assert_eq!(port_range(&PortRange { lo: 8000, hi: 8010 }), "8000:8010");
    }

    #[test]
    fn host_names_are_quoted_but_addresses_are_not() {
        assert_eq!(host_name("10.0.0.1"), "10.0.0.1");
        assert_eq!(host_name("www.example.com"), "\"www.example.com\"");
        assert_eq!(hex(&[0x30, 0x0c, 0xff]), "300cff");
    }
}
