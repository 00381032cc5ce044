//! The request target (RFC 9112 3.2): which of its forms a request uses,
//! the authority of an absolute-form target (checked against Host), and
//! the canonical path the filter rules match and the backend then gets:
//! absolute-form reduced to its path, percent-encoded unreserved
//! characters decoded, dot segments removed, repeated slashes merged.
//! Without the canonical form, `/%73muggled`, `/./smuggled`,
//! `/x/../smuggled` and `//smuggled` would each pass a rule on
//! `/smuggled*` and reach a backend that reads them as `/smuggled`.

/// The forms of a request target a relay accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form<'a> {
    /// `/path?query`
    Origin,
    /// `http://authority/path?query`, with its authority (userinfo cut).
    Absolute { authority: &'a str },
    /// `*` (OPTIONS).
    Asterisk,
    /// `host:port` (CONNECT only).
    Authority,
}

/// The form of `target`, or `None` for a target no form allows (a path
/// without its leading slash, another scheme, an empty target).
pub fn form<'a>(target: &'a str, connect: bool) -> Option<Form<'a>> {
    if connect {
        return (!target.is_empty() && !target.contains('/')).then_some(Form::Authority);
    }
    if target.starts_with('/') {
        return Some(Form::Origin);
    }
    if target == "*" {
        return Some(Form::Asterisk);
    }
    let rest = strip_scheme(target)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    Some(Form::Absolute { authority })
}

/// What follows `http://` or `https://` (any case).
fn strip_scheme(target: &str) -> Option<&str> {
    for scheme in ["http://", "https://"] {
        if target.len() >= scheme.len()
            && target.as_bytes()[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
        {
            return Some(&target[scheme.len()..]);
        }
    }
    None
}

/// The path and query of `target`: an absolute-form target loses its
/// scheme and authority (the path of `http://x` or `http://x?q` is `/`);
/// the other forms keep their text as the path.
pub fn path_and_query(target: &str) -> (&str, Option<&str>) {
    let (rest, absolute) = match strip_scheme(target) {
        Some(rest) => (&rest[rest.find(['/', '?']).unwrap_or(rest.len())..], true),
        None => (target, false),
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if absolute && path.is_empty() {
        return ("/", query);
    }
    (path, query)
}

/// Whether `host` is a valid Host field value: `host [":" port]` with a
/// host that is an IP literal in brackets or a registered name (RFC 3986
/// unreserved, percent-encoded and sub-delims characters), and a port of
/// digits. An empty value is valid (RFC 9112 3.2).
pub fn valid_host(host: &[u8]) -> bool {
    let (name, port) = if let Some(inside) = host.strip_prefix(b"[") {
        let Some(close) = inside.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &inside[..close];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match &inside[close + 1..] {
            [] => (&b""[..], None),
            [b':', port @ ..] => (&b""[..], Some(port)),
            _ => return false,
        }
    } else {
        match host.iter().position(|&b| b == b':') {
            Some(colon) => (&host[..colon], Some(&host[colon + 1..])),
            None => (host, None),
        }
    };
    let name_ok = name
        .iter()
        .all(|&b| unreserved(b) || sub_delim(b) || b == b'%');
    let port_ok = port.is_none_or(|p| p.iter().all(u8::is_ascii_digit));
    name_ok && port_ok
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// The canonical form of `path` (no query): `%XX` of an unreserved
/// character decoded, every other escape's hex in upper case and a `%`
/// that starts no escape written `%25` (so decoding cannot make a new
/// escape: `/%%373` is `/%2573`, never `/%73`, which a backend would
/// read as `/s`), `.` and
/// `..` segments removed (RFC 3986 5.2.4, never above the root), empty
/// segments merged, a trailing slash kept. A path that does not start
/// with `/` (`*`) is returned as it is.
pub fn canonical_path(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_string();
    }
    let decoded = decode_unreserved(path);
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing = false;
    for segment in decoded.split('/').skip(1) {
        trailing = true;
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => {
                segments.push(segment);
                trailing = false;
            }
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing || out.is_empty() {
        out.push('/');
    }
    out
}

/// `%XX` escapes of unreserved characters decoded, the others' hex digits
/// upper-cased; a `%` not followed by two hex digits becomes `%25`.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escape = bytes.get(at + 1..at + 3).filter(|_| bytes[at] == b'%');
        let value = escape.and_then(|hex| {
            let text = std::str::from_utf8(hex).ok()?;
            u8::from_str_radix(text, 16)
                .ok()
                .filter(|_| hex.iter().all(u8::is_ascii_hexdigit))
        });
        match value {
            Some(byte) if unreserved(byte) => {
                out.push(byte);
                at += 3;
            }
            Some(_) => {
                out.push(b'%');
                out.extend(bytes[at + 1..at + 3].iter().map(u8::to_ascii_uppercase));
                at += 3;
            }
            None if bytes[at] == b'%' => {
                out.extend_from_slice(b"%25");
                at += 1;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes: still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_path_has_one_canonical_form() {
        for path in [
            "/smuggled",
            "/%73muggled",
            "/%73%6D%75ggled",
            "/./smuggled",
            "/x/../smuggled",
            "//smuggled",
            "/x/./..//smuggled",
            "/../../smuggled",
            "/%2e%2e/smuggled",
            "/x/%2E%2E/smuggled",
        ] {
            assert_eq!(canonical_path(path), "/smuggled", "{path}");
        }
        assert_eq!(canonical_path("/a/b/"), "/a/b/");
        assert_eq!(canonical_path("/a/b/."), "/a/b/");
        assert_eq!(canonical_path("/a/b/.."), "/a/");
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path("/.."), "/");
        assert_eq!(canonical_path("/a%2fb"), "/a%2Fb");
        assert_eq!(canonical_path("/a%zz%4"), "/a%25zz%254");
        // Found by the http_head fuzz target: decoding made a new escape.
        assert_eq!(canonical_path("/%%373muggled"), "/%2573muggled");
        assert_eq!(canonical_path("/ht%7%373mug"), "/ht%25773mug");
        assert_eq!(canonical_path("/caf\u{e9}"), "/caf\u{e9}");
        assert_eq!(canonical_path("*"), "*");
    }

    #[test]
    fn the_canonical_path_is_its_own_canonical_path() {
        for path in [
            "/%%373muggled",
            "/ht%7%373mug80",
            "/%2%2e%2e/x",
            "/a/%2e%2E/./%7e%",
        ] {
            let once = canonical_path(path);
            assert_eq!(canonical_path(&once), once, "{path}");
        }
    }

    #[test]
    fn absolute_form_is_reduced_to_its_path() {
        assert_eq!(
            path_and_query("http://x/smuggled?a=1"),
            ("/smuggled", Some("a=1"))
        );
        assert_eq!(path_and_query("HTTPS://x:8080"), ("/", None));
        assert_eq!(path_and_query("http://x?q"), ("/", Some("q")));
        assert_eq!(path_and_query("/plain"), ("/plain", None));
        assert_eq!(
            form("http://user@Example.com:81/a", false),
            Some(Form::Absolute {
                authority: "Example.com:81"
            })
        );
        assert_eq!(form("/a", false), Some(Form::Origin));
        assert_eq!(form("*", false), Some(Form::Asterisk));
        assert_eq!(form("smuggled", false), None);
        assert_eq!(form("ftp://x/", false), None);
        assert_eq!(form("x:443", true), Some(Form::Authority));
    }

    #[test]
    fn host_values_follow_rfc_3986() {
        for good in [
            &b"x"[..],
            b"",
            b"a.example:8080",
            b"[::1]:80",
            b"[::1]",
            b"a-b_c~",
        ] {
            assert!(valid_host(good), "{:?}", String::from_utf8_lossy(good));
        }
        for bad in [
            &b"a b"[..],
            b"a:b",
            b"a/b",
            b"[::1",
            b"[x]",
            b"a@b",
            b"a:1:2",
        ] {
            assert!(!valid_host(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
