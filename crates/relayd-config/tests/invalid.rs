//! Configurations relayd refuses: each must fail with the expected message
//! at the expected line.

mod common;

use common::errors_of;

/// A relay that makes a config valid on its own, appended where the case
/// needs "something to do".
const RELAY: &str =
    "relay ok {\n listen on 127.0.0.1 port 9999\n forward to 127.0.0.1 port 80\n}\n";

struct Case {
    name: &'static str,
    text: String,
    line: u32,
    fragment: &'static str,
}

fn case(name: &'static str, text: &str, line: u32, fragment: &'static str) -> Case {
    Case {
        name,
        text: text.to_string(),
        line,
        fragment,
    }
}

/// `text` followed by a valid relay (its lines come after `text`'s).
fn with_relay(name: &'static str, text: &str, line: u32, fragment: &'static str) -> Case {
    case(name, &format!("{text}{RELAY}"), line, fragment)
}

fn cases() -> Vec<Case> {
    vec![
        // Syntax, in plain words.
        case("unknown statement", "foo bar\n", 1, "syntax error, expected a statement"),
        with_relay("missing number", "interval\n", 1, "expected a number, found end of line"),
        case(
            "unknown relay option",
            "relay r {\n listen on 127.0.0.1 port 80\n lisen on 127.0.0.1\n}\n",
            3,
            "expected a relay option",
        ),
        case("keyword as a name", "relay relay {\n}\n", 1, "expected a string, found \"relay\""),
        case("unclosed block", "relay r {\n listen on 127.0.0.1 port 80\n", 2, "found end of file (a '}' is missing)"),
        with_relay("unterminated quote", "socket \"/tmp/x\n", 1, "end of file while parsing quoted string"),
        // Macros.
        with_relay("undefined macro", "interval $nope\n", 1, "macro 'nope' not defined"),
        with_relay("reserved macro name", "table=\"x\"\n", 1, "reserved word"),
        // Global options.
        with_relay("prefork range", "prefork 33\n", 1, "invalid number of preforked relays: 33"),
        with_relay("timeout over interval", "interval 1\ntimeout 1000\n", 2, "global timeout exceeds interval"),
        with_relay("metrics address", "metrics listen on no.such.host port 9121\n", 1, "invalid metrics listen ip: no.such.host"),
        with_relay("metrics without port", "metrics listen on 127.0.0.1\n", 1, "expected 'port'"),
        case("nothing to do", "table <t> { 10.0.0.1 }\n", 1, "no actions, nothing to do"),
        // Tables.
        with_relay("table without hosts", "table <t> { }\n", 1, "table <t> has no hosts"),
        with_relay("table defined twice", "table <t> { 10.0.0.1 }\ntable <t> { 10.0.0.2 }\n", 2, "table <t> defined twice"),
        with_relay("invalid host", "table <t> { no.such.host }\n", 1, "invalid host no.such.host"),
        with_relay("host option twice", "table <t> { 10.0.0.1 retry 1 retry 2 }\n", 1, "retry value already set"),
        case(
            "unknown table",
            "relay r {\n listen on 127.0.0.1 port 80\n forward to <nope> port 80\n}\n",
            3,
            "unknown table <nope>",
        ),
        case(
            "table interval not a multiple",
            "interval 10\ntable <t> { 10.0.0.1 }\nrelay r {\n listen on 127.0.0.1 port 80\n forward to <t> port 80 interval 15 check tcp\n}\n",
            5,
            "table interval must be divisible by global interval",
        ),
        case(
            "table timeout over interval",
            "table <t> { 10.0.0.1 }\nrelay r {\n listen on 127.0.0.1 port 80\n forward to <t> port 80 timeout 20000 check tcp\n}\n",
            4,
            "table timeout exceeds interval",
        ),
        case(
            "parent names no host",
            "table <t> { 10.0.0.1 parent 7 }\nrelay r {\n listen on 127.0.0.1 port 80\n forward to <t> port 80\n}\n",
            1,
            "host parent id 7 invalid",
        ),
        case(
            "parent is itself",
            "table <t> { 10.0.0.1, 10.0.0.2 parent 2 }\nrelay r {\n listen on 127.0.0.1 port 80\n forward to <t> port 80\n}\n",
            1,
            "host parent id 2 invalid",
        ),
        with_relay("short digest", "table <t> { 10.0.0.1 }\nredirect w {\n listen on 127.0.0.1 port 80\n forward to <t> check http \"/\" digest abc\n}\n", 4, "invalid http digest"),
        with_relay("odd binary data", "table <t> { 10.0.0.1 }\nredirect w {\n listen on 127.0.0.1 port 80\n forward to <t> check binary send \"abc\" expect \"00\"\n}\n", 4, "even number of hex digits"),
        with_relay("empty binary expect", "table <t> { 10.0.0.1 }\nredirect w {\n listen on 127.0.0.1 port 80\n forward to <t> check binary send nothing expect \"\"\n}\n", 4, "empty binary expect data"),
        with_relay("bad hex key", "table <t> { 10.0.0.1 }\nredirect w {\n listen on 127.0.0.1 port 80\n forward to <t> mode source-hash 0x1234 check tcp\n}\n", 4, "hex key must be 128 bits"),
        with_relay("key with roundrobin", "table <t> { 10.0.0.1 }\nredirect w {\n listen on 127.0.0.1 port 80\n forward to <t> mode roundrobin k check tcp\n}\n", 4, "key not supported by mode roundrobin"),
        // Redirections.
        with_relay("redirect without check", "table <t> { 10.0.0.1 }\nredirect w {\n listen on 127.0.0.1 port 80\n forward to <t>\n}\n", 4, "has no check"),
        with_relay("redirect without table", "redirect w {\n listen on 127.0.0.1 port 80\n}\n", 1, "redirection w has no table"),
        with_relay("redirect without listen", "table <t> { 10.0.0.1 }\nredirect w {\n forward to <t> port 80 check tcp\n}\n", 2, "redirection w has no virtual ip"),
        with_relay(
            "backup on another port",
            "table <a> { 10.0.0.1 }\ntable <b> { 10.0.0.2 }\nredirect w {\n listen on 127.0.0.1 port 80\n forward to <a> check tcp\n forward to <b> port 81 check tcp\n}\n",
            3,
            "two different ports for its table and backup table",
        ),
        with_relay(
            "three tables",
            "table <a> { 10.0.0.1 }\nredirect w {\n listen on 127.0.0.1 port 80\n forward to <a> check tcp\n forward to <a> check tcp\n forward to <a> check tcp\n}\n",
            6,
            "only one backup table is allowed",
        ),
        with_relay("loadbalance in a redirect", "table <a> { 10.0.0.1 }\nredirect w {\n listen on 127.0.0.1 port 80\n forward to <a> mode loadbalance check tcp\n}\n", 4, "mode loadbalance not supported for redirections"),
        with_relay("route without interface", "table <a> { 10.0.0.1 }\nredirect w {\n listen on 127.0.0.1 port 80\n route to <a> check tcp\n}\n", 4, "missing interface to route to"),
        with_relay("redirect defined twice", "table <a> { 10.0.0.1 }\nredirect w {\n listen on 127.0.0.1 port 80\n forward to <a> check tcp\n}\nredirect w {\n listen on 127.0.0.1 port 81\n forward to <a> check tcp\n}\n", 6, "redirection w defined twice"),
        with_relay("unknown ip protocol", "table <a> { 10.0.0.1 }\nredirect w {\n listen on 127.0.0.1 sctp port 80\n forward to <a> check tcp\n}\n", 3, "invalid protocol: sctp"),
        with_relay("unknown port name", "table <a> { 10.0.0.1 }\nredirect w {\n listen on 127.0.0.1 port nosuchservice\n forward to <a> check tcp\n}\n", 3, "unknown port nosuchservice"),
        // Relays.
        case("relay without listener", "relay r {\n forward to 127.0.0.1 port 80\n}\n", 1, "relay r has no listener"),
        case("relay without target", "relay r {\n listen on 127.0.0.1 port 80\n}\n", 1, "relay r has no target"),
        case("relay defined twice", &format!("{RELAY}{RELAY}"), 5, "relay ok or listener defined twice"),
        case("listener used twice", &format!("{RELAY}relay other {{\n listen on 127.0.0.1 port 9999\n forward to 127.0.0.1 port 80\n}}\n"), 5, "listener defined twice"),
        case("unknown protocol", "relay r {\n listen on 127.0.0.1 port 80\n protocol nope\n forward to 127.0.0.1 port 80\n}\n", 3, "no such protocol: nope"),
        case("port range in a relay", "relay r {\n listen on 127.0.0.1 port 80:90\n forward to 127.0.0.1 port 80\n}\n", 2, "a range is not allowed here"),
        case("route in a relay", "relay r {\n listen on 127.0.0.1 port 80\n route to 127.0.0.1 port 80\n}\n", 3, "no route for relays"),
        case("nat lookup and destination", "relay r {\n listen on 127.0.0.1 port 80\n forward to nat lookup\n forward to destination\n}\n", 1, "conflicting nat lookup and peer options"),
        // Protocols.
        with_relay("protocol defined twice", "protocol p\nprotocol p\n", 2, "protocol p defined twice"),
        with_relay("http options in tcp", "protocol p {\n http headerlen 10\n}\n", 2, "http options only for http protocol"),
        with_relay("headerlen too big", "http protocol p {\n http headerlen 131073\n}\n", 2, "invalid headerlen: 131073"),
        with_relay("backlog too big", "protocol p {\n tcp backlog 513\n}\n", 2, "invalid backlog: 513"),
        with_relay("unknown tls flag", "protocol p {\n tls tlsv9\n}\n", 2, "invalid TLS flag: tlsv9"),
        with_relay(
            "verify name without ca file",
            "protocol p {\n tls keypair www\n tls verify name \"www.example.com\"\n}\n",
            3,
            "tls verify name www.example.com needs tls ca file",
        ),
        with_relay("no tls version left", "protocol p {\n tls { no tlsv1.2, no tlsv1.3 }\n}\n", 1, "invalid TLS protocol"),
        with_relay("path in a response", "http protocol p {\n match response path \"/a\"\n}\n", 2, "path is only available with the direction request"),
        with_relay("url set", "http protocol p {\n match request url set \"a\"\n}\n", 2, "combining url type and the given option is not supported"),
        with_relay("unknown method", "http protocol p {\n block method FETCH\n}\n", 2, "unknown HTTP method"),
        with_relay("no tag without a tag", "http protocol p {\n match no tag\n}\n", 2, "no tag defined"),
        with_relay("tag twice", "http protocol p {\n match tag a tag b\n}\n", 2, "tag already defined"),
        with_relay("family mismatch", "http protocol p {\n pass inet from ::1\n}\n", 2, "address family mismatch"),
        with_relay("undefined forward table", "http protocol p {\n pass forward to <nope>\n}\n", 2, "undefined forward table <nope>"),
        with_relay("keys file missing", "http protocol p {\n block url file \"/nonexistent/keys\"\n}\n", 2, "failed to load rules from /nonexistent/keys"),
        with_relay("bad url digest", "http protocol p {\n block url digest 1234\n}\n", 2, "invalid http digest"),
        // Routers.
        with_relay("router without routes", "table <g> { 10.0.0.1 }\nrouter r {\n forward to <g> check icmp\n}\n", 2, "router r without routes"),
        with_relay("router family mismatch", "table <g> { 10.0.0.1 }\nrouter r {\n route 10.0.0.0/8\n route ::/0\n forward to <g> check icmp\n}\n", 4, "router r address family mismatch"),
        with_relay("prefix too long", "table <g> { 10.0.0.1 }\nrouter r {\n route 10.0.0.0/33\n forward to <g> check icmp\n}\n", 3, "invalid prefixlen 33"),
        with_relay("router defined twice", "table <g> { 10.0.0.1 }\nrouter r {\n route 10.0.0.0/8\n forward to <g> check icmp\n}\nrouter r {\n route 10.0.0.0/8\n forward to <g> check icmp\n}\n", 6, "router r defined twice"),
        with_relay("protocol named default", "protocol default\n", 1, "protocol default defined twice"),
        case("two protocols in a relay", "protocol a\nprotocol b\nrelay r {\n listen on 127.0.0.1 port 80\n protocol a\n protocol b\n forward to 127.0.0.1 port 81\n}\n", 6, "more than one protocol specified"),
        case("forward before a defined table", "relay r {\n listen on 127.0.0.1 port 80\n forward to <t> port 80\n}\ntable <t> { 10.0.0.1 }\n", 3, "tables must be defined before they are used"),
        case("same table and port, other check", "table <t> { 10.0.0.1 }\nrelay r {\n listen on 127.0.0.1 port 80\n forward to <t> port 80 check tcp\n forward to <t> port 80 check icmp\n}\n", 5, "already used on port 80 with other check options"),
        with_relay("router table twice", "table <g> { 10.0.0.1 }\nrouter r {\n route 10.0.0.0/8\n forward to <g> check icmp\n forward to <g> check icmp\n}\n", 5, "table already specified"),
    ]
}

#[test]
fn every_invalid_config_fails_with_its_message_and_line() {
    let mut failures = Vec::new();
    for case in cases() {
        let errors = errors_of(&case.text);
        let found = errors.0.iter().any(|e| {
            e.line == case.line && e.message.contains(case.fragment) && e.file == "test.conf"
        });
        if !found {
            failures.push(format!(
                "{}: expected line {} with \"{}\", got:\n{errors}",
                case.name, case.line, case.fragment
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn several_errors_are_reported_in_file_order() {
    let text =
        "interval x\ntable <t> { }\nprefork 99\nrelay r {\n listen on 127.0.0.1 port 80\n}\n";
    let errors = errors_of(text);
    let lines: Vec<u32> = errors.0.iter().map(|e| e.line).collect();
    assert_eq!(lines, [1, 2, 3, 4], "{errors}");
    // Display: one `file:line:column: message` per line.
    let shown = errors.to_string();
    assert!(shown.starts_with("test.conf:1:10: syntax error"), "{shown}");
    assert_eq!(shown.lines().count(), 4);
}

#[test]
fn a_broken_definition_is_reported_once() {
    let text = "table <t> { 10.0.0.1 retry }\nprotocol p {\n tcp foo\n}\n\
                relay r {\n listen on 127.0.0.1 port 80\n protocol p\n forward to <t> port 80\n}\n";
    let errors = errors_of(text);
    let lines: Vec<u32> = errors.0.iter().map(|e| e.line).collect();
    assert_eq!(lines, [1, 3], "{errors}");
}

#[test]
fn one_line_blocks_need_newlines_between_options() {
    let errors =
        errors_of("relay r { listen on 127.0.0.1 port 80 forward to 127.0.0.1 port 81 }\n");
    assert!(
        errors.0[0]
            .message
            .contains("expected 'tls' or end of line, found \"forward\""),
        "{errors}"
    );
}

#[test]
fn errors_in_later_options_of_a_broken_block_are_reported_too() {
    let text = "http protocol p {\n tcp { nodelay }\n tcp foo\n tls {\n  no tlsv1.0\n }\n match request header set\n block\n http bar\n}\n";
    let errors = errors_of(text);
    let lines: Vec<u32> = errors.0.iter().map(|e| e.line).collect();
    // `header set` without a key is valid (relayd accepts it too).
    assert_eq!(lines, [3, 9], "{errors}");
    assert!(
        errors.0[1].message.contains("expected an http option"),
        "{errors}"
    );
}
