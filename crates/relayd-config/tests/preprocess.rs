//! What happens before the grammar: macros (-D overrides, undefined macros,
//! no expansion in quotes), include (nested, depth limit, loops), `\` line
//! continuation, comments; and the small lexical rules after it: service
//! names, IPv6 addresses, prefixes.

mod common;

use common::{errors_of, options, parse, test_resolver};
use relayd_config::*;
use std::path::{Path, PathBuf};

const RELAY: &str = "relay r {\n listen on $addr port $lport\n forward to 127.0.0.1 port 80\n}\n";

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "relayd-config-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn listen_of(config: &Config) -> &RelayListen {
    &config.relays[0].listen[0]
}

#[test]
fn macros_expand_and_command_line_wins() {
    let text = format!("addr=\"127.0.0.2\"\nlport=8080\n{RELAY}");
    let config = parse(&text).unwrap();
    assert_eq!(listen_of(&config).addr.to_string(), "127.0.0.2");
    assert_eq!(listen_of(&config).port, 8080);

    let with_define = LoadOptions {
        macros: vec![("addr".into(), "127.0.0.9".into())],
        resolver: Some(&test_resolver),
    };
    let config = parse_str(&text, "test.conf", &with_define).unwrap();
    assert_eq!(listen_of(&config).addr.to_string(), "127.0.0.9");
    assert_eq!(listen_of(&config).port, 8080);
}

#[test]
fn a_macro_may_hold_several_words_and_use_earlier_macros() {
    let text = "host1=\"10.0.0.1 retry 3\"\nall=\"$host1\"\nboth=$host1\n\
                table <t> { $both }\nrelay r {\n listen on 127.0.0.1 port 80\n forward to <t> port 80\n}\n";
    let config = parse(text).unwrap();
    let host = &config.table("t:80").unwrap().hosts[0];
    assert_eq!((host.name.as_str(), host.retry), ("10.0.0.1", 3));
}

#[test]
fn undefined_macros_and_macros_in_quotes() {
    let errors = errors_of(&format!("lport=80\n{RELAY}"));
    assert_eq!(errors.0[0].line, 3);
    assert_eq!(errors.0[0].column, 12);
    assert!(errors.0[0].message.contains("macro 'addr' not defined"));

    // "$name" in quotes stays as written.
    let text = "http protocol p {\n match header set \"X\" value \"$addr\"\n}\n\
                relay r {\n listen on 127.0.0.1 port 80\n forward to 127.0.0.1 port 81\n protocol p\n}\n";
    let config = parse(text).unwrap();
    let entity = &config.protocols[0].rules[0].entities[0];
    assert_eq!(entity.value.as_deref(), Some("$addr"));
}

#[test]
fn bad_command_line_macro_name_is_refused() {
    let bad = LoadOptions {
        macros: vec![("a b".into(), "x".into())],
        resolver: None,
    };
    let errors = parse_str("", "test.conf", &bad).unwrap_err();
    assert!(errors.0[0].message.contains("invalid macro name"));
}

#[test]
fn continuation_lines_and_comments() {
    let text = "# a comment\nrelay r { # comment after a brace\n listen on \\\n   127.0.0.1 \\\n   port 80 # the port\n\
                # forward to 10.0.0.1 port 1 \\\n forward to 10.0.0.2 port 2\n forward to 127.0.0.1 port 81\n}\n";
    let config = parse(text).unwrap();
    assert_eq!(listen_of(&config).port, 80);
    // The continued comment swallowed the line after it.
    assert_eq!(config.relays[0].forward.len(), 1);
    assert_eq!(config.relays[0].origin.line, 2);
}

#[test]
fn errors_after_continuations_point_at_the_right_line() {
    let errors = errors_of("interval \\\n 5\nprefork \\\n  foo\n");
    assert_eq!((errors.0[0].line, errors.0[0].column), (4, 3));
}

#[test]
fn includes_nest_and_report_their_own_file() {
    let dir = TempDir::new("include");
    dir.write("inner.conf", "lport=8081\nbroken statement here\n");
    let outer = dir.write(
        "outer.conf",
        &format!("include \"{}\"\n", dir.0.join("inner.conf").display()),
    );
    let top = format!(
        "addr=\"127.0.0.1\"\ninclude \"{}\"\n{RELAY}",
        outer.display()
    );
    let errors = errors_of(&top);
    let error = &errors.0[0];
    assert!(error.file.ends_with("inner.conf"), "{errors}");
    assert_eq!(error.line, 2);

    dir.write("inner.conf", "lport=8081\n");
    let config = parse(&top).unwrap();
    assert_eq!(listen_of(&config).port, 8081);
}

#[test]
fn include_loops_and_depth_are_refused() {
    let dir = TempDir::new("loop");
    let a = dir.0.join("a.conf");
    let b = dir.0.join("b.conf");
    dir.write("a.conf", &format!("include \"{}\"\n", b.display()));
    dir.write("b.conf", &format!("include \"{}\"\n", a.display()));
    let errors = load_file(&a, &options()).unwrap_err();
    assert!(errors.to_string().contains("include loop"), "{errors}");

    // A chain of 20 files, each including the next.
    let deep = TempDir::new("deep");
    for i in 0..20 {
        let next = deep.0.join(format!("{}.conf", i + 1));
        deep.write(
            &format!("{i}.conf"),
            &format!("include \"{}\"\n", next.display()),
        );
    }
    deep.write("20.conf", "interval 5\n");
    let errors = load_file(&deep.0.join("0.conf"), &options()).unwrap_err();
    assert!(errors.to_string().contains("nested more than"), "{errors}");

    let errors = errors_of("include \"/nonexistent/relayd.conf\"\n");
    assert!(errors.0[0]
        .message
        .contains("failed to include file /nonexistent/relayd.conf"));
}

#[test]
fn include_inside_a_table_block() {
    let config = common::load("everything.conf");
    let names: Vec<&str> = config
        .table("web:80")
        .unwrap()
        .hosts
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    assert_eq!(names, ["10.0.2.1", "10.0.2.2", "10.0.2.3", "10.0.2.4"]);
}

#[test]
fn service_names_ipv6_and_prefixes() {
    let text = "table <t> { 2001:db8::5, fe80::1 }\n\
                http protocol p {\n pass from 2001:db8::/32 to ::1\n block from 192.0.2.0/24\n}\n\
                relay r {\n listen on ::1 port https\n protocol p\n forward to <t> port ssh\n}\n\
                redirect w {\n listen on 127.0.0.1 port http:https\n forward to <t> check tcp\n}\n";
    let config = parse(text).unwrap();
    assert_eq!(listen_of(&config).port, 443);
    assert_eq!(listen_of(&config).addr.to_string(), "::1");
    assert!(config.table("t:22").is_some());
    assert_eq!(
        config.redirects[0].listen[0].port,
        PortRange { lo: 80, hi: 443 }
    );
    // The redirect's table port is the first port of the range.
    assert!(config.table("t:80").is_some());
    let rules = &config.protocols[0].rules;
    assert_eq!(rules[0].from.unwrap().len, 32);
    assert_eq!(rules[0].to.unwrap().len, 128);
    assert_eq!(rules[1].from.unwrap().len, 24);
}

#[test]
fn old_spellings_map_to_the_same_model() {
    let text = "log updates\nlog all\nlog connection\n\
                protocol p {\n ssl { no tlsv1.0 }\n}\n\
                relay r {\n listen on 127.0.0.1 port 80 ssl\n protocol p\n forward with ssl to 127.0.0.1 port 81\n}\n";
    let config = parse(text).unwrap();
    assert!(config.global.log.state_changes && config.global.log.host_checks);
    assert_eq!(config.global.log.connection, Some(ConnectionLog::All));
    assert_eq!(config.protocols[0].tls.tlsv1_0, Some(false));
    assert!(config.relays[0].listen[0].tls);
    assert!(config.relays[0].forward[0].tls);
}

#[test]
fn load_file_reports_a_missing_file() {
    let errors = load_file(Path::new("/nonexistent/relayd.conf"), &options()).unwrap_err();
    assert!(errors
        .to_string()
        .starts_with("/nonexistent/relayd.conf:0:0: cannot read"));
}

#[test]
fn ids_count_from_one_per_kind_in_file_order() {
    let text = "table <a> { 10.0.0.1, 10.0.0.2 }\ntable <b> { 10.0.0.3 }\ntable <c> { 10.0.0.4 }\n\
                protocol p1\nprotocol p2\n\
                relay r1 {\n listen on 127.0.0.1 port 80\n forward to <b> port 80\n forward to <a> port 80\n}\n\
                relay r2 {\n listen on 127.0.0.1 port 81\n forward to <b> port 81\n}\n";
    let config = parse(text).unwrap();
    let tables: Vec<(ObjectId, &str)> = config
        .tables
        .iter()
        .map(|t| (t.id, t.name.as_str()))
        .collect();
    assert_eq!(tables, [(1, "b:80"), (2, "a:80"), (3, "b:81"), (4, "c")]);
    let hosts: Vec<ObjectId> = config
        .tables
        .iter()
        .flat_map(|t| t.hosts.iter().map(|h| h.id))
        .collect();
    assert_eq!(hosts, [1, 2, 3, 4, 5]);
    let protocols: Vec<ObjectId> = config.protocols.iter().map(|p| p.id).collect();
    assert_eq!(protocols, [1, 2]);
}
