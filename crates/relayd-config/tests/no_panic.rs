//! Whatever the input, `parse_str` returns (a `Config` or errors) and never
//! panics: random bytes, random soups of relayd.conf tokens, and valid
//! files with random tokens spliced in.

use proptest::prelude::*;
use relayd_config::{parse_str, LoadOptions};
use std::net::IpAddr;

/// No DNS in tests: every name is 192.0.2.1.
fn test_resolver(_name: &str) -> std::io::Result<Vec<IpAddr>> {
    Ok(vec![IpAddr::from([192, 0, 2, 1])])
}

fn parse(text: &str) {
    let options = LoadOptions {
        macros: vec![("ext".into(), "127.0.0.1".into())],
        resolver: Some(&test_resolver),
    };
    // Errors are fine; only a panic (or a hang) fails the test.
    let _ = parse_str(text, "fuzz.conf", &options);
}

#[rustfmt::skip]
const KEYWORDS: &[&str] = &[
    "agentx", "append", "backlog", "backup", "binary", "block", "buffer", "ca", "cache", "cert",
    "changes", "check", "checks", "ciphers", "code", "connection", "context", "cookie", "demote",
    "destination", "digest", "disable", "ecdhe", "edh", "error", "errors", "expect", "external",
    "file", "forward", "from", "hash", "header", "headerlen", "host", "http", "https", "icmp",
    "include", "inet", "inet6", "interface", "interval", "ip", "key", "keypair", "label",
    "least-states", "listen", "loadbalance", "log", "lookup", "match", "method", "minttl", "mode",
    "nat", "no", "nodelay", "nothing", "on", "params", "parent", "pass", "password", "path",
    "pftag", "port", "prefork", "priority", "protocol", "query", "quick", "random", "real",
    "redirect", "relay", "remove", "request", "response", "retry", "return", "roundrobin",
    "route", "router", "rtable", "rtlabel", "sack", "script", "send", "session", "set", "snmp",
    "socket", "source-hash", "splice", "ssl", "state", "sticky-address", "strip", "style",
    "table", "tag", "tagged", "tcp", "tickets", "timeout", "tls", "tlsv1", "tlsv1.0", "tlsv1.2",
    "tlsv1.3", "to", "transparent", "trap", "ttl", "udp", "url", "value", "websockets", "with",
    "dns", "auto", "legacy", "none", "GET", "POST", "updates", "all",
];

#[rustfmt::skip]
const PUNCTUATION: &[&str] = &[
    "{", "}", "<", ">", ",", "/", "=", "\n", "\n\n", "\\\n", "\\", "#", "# comment\n", "\t", ":",
    "!", "(", ")", ";",
];

#[rustfmt::skip]
const VALUES: &[&str] = &[
    "0", "1", "10", "65535", "65536", "-1", "99999999999999999999999", "0x0123456789abcdef0123456789abcdef",
    "127.0.0.1", "::1", "2001:db8::/32", "10.0.0.0/8", "300.1.1.1", "1.2.3", "fe80::1%lo",
    "8000:8010", "http", "www.example.test", "\"\"", "\"quoted\"", "\"unterminated", "\"a\\\"b\"",
    "\"back\\\\slash\"", "\"/\"", "\"\\r\\n\"", "$ext", "$undefined", "$", "ext=\"x\"", "a=b",
    "<web>", "<>", "<", "web", "\u{e9}t\u{e9}", "\0",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYWORDS).prop_map(str::to_string),
        2 => prop::sample::select(PUNCTUATION).prop_map(str::to_string),
        3 => prop::sample::select(VALUES).prop_map(str::to_string),
        1 => "[a-z0-9_.:$\"\\\\]{1,12}",
        1 => any::<u32>().prop_map(|n| n.to_string()),
    ]
}

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (token(), prop::sample::select(&[" ", " ", "\n", ""][..])),
        0..80,
    )
    .prop_map(|tokens| tokens.into_iter().map(|(t, sep)| t + sep).collect())
}

/// A valid file to damage: every kind of block, so spliced tokens land deep
/// inside the grammar too.
const VALID: &str = r#"
ext2="127.0.0.2"
interval 5
table <web> { 127.0.0.1 retry 1, $ext2 }
redirect "www" {
	listen on $ext port 80
	forward to <web> check http "/" code 200
}
http protocol "p" {
	match request header set "X" value "$REMOTE_ADDR"
	tls { no tlsv1.0, ciphers "HIGH" }
}
relay "r" {
	listen on 127.0.0.1 port 8080
	protocol "p"
	forward to <web> port 8080 mode loadbalance check tcp
}
router "u" {
	route 0.0.0.0/0
	forward to <web> check icmp
}
"#;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soup_never_panics(text in soup()) {
        parse(&text);
    }

    #[test]
    fn a_damaged_valid_file_never_panics(
        at in 0..VALID.len(),
        cut in 0..20usize,
        insert in soup(),
    ) {
        let mut at = at;
        while !VALID.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + cut).min(VALID.len());
        while !VALID.is_char_boundary(end) {
            end -= 1;
        }
        let text = format!("{}{}{}", &VALID[..at], insert, &VALID[end..]);
        parse(&text);
    }
}

#[test]
fn the_file_to_damage_is_valid() {
    let options = LoadOptions {
        macros: vec![("ext".into(), "127.0.0.1".into())],
        resolver: Some(&test_resolver),
    };
    if let Err(errors) = parse_str(VALID, "valid.conf", &options) {
        panic!("{errors}");
    }
}
