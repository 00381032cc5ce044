//! `protocol` blocks: TCP, TLS and HTTP options, `return error`, and the
//! filter rules in their order.

use super::quote::{prefix, quoted, table_name};
use super::Out;
use crate::model::{
    AddressFamily, Direction, EdhParams, EntityKey, EntityKind, EntityMatch, EntityOption,
    FilterRule, HttpOptions, Protocol, ProtocolKind, RuleAction, TcpOptions, TlsOptions,
};

pub fn print_protocol(out: &mut Out, protocol: &Protocol) {
    let kind = match protocol.kind {
        ProtocolKind::Tcp => "",
        ProtocolKind::Http => "http ",
        ProtocolKind::Dns => "dns ",
    };
    let header = format!("{kind}protocol {}", quoted(&protocol.name));
    let mut body = Out::default();
    if let Some(error) = &protocol.return_error {
        match &error.style {
            Some(style) => body.line(1, format!("return error style {}", quoted(style))),
            None => body.line(1, "return error"),
        }
    }
    option_block(&mut body, "tcp", &tcp_options(&protocol.tcp));
    option_block(&mut body, "tls", &tls_options(&protocol.tls));
    option_block(&mut body, "http", &http_options(&protocol.http));
    if !protocol.rules.is_empty() {
        // Options first, then a blank line, then the rules in their order.
        body.blank();
    }
    for rule in &protocol.rules {
        body.clauses(1, &filter_rule(rule));
    }
    let body = body.finish();
    if body.is_empty() {
        out.line(0, format!("{header} {{ }}"));
    } else {
        out.line(0, format!("{header} {{"));
        out.text.push_str(&body);
        out.line(0, "}");
    }
}

/// `tcp { nodelay, sack }` when that fits on a line, else one `tcp nodelay`
/// line per option (relayd's grammar does not allow newlines inside the
/// braces); nothing when every option is the default.
fn option_block(out: &mut Out, keyword: &str, options: &[String]) {
    const MAX_LINE: usize = 72;
    if options.is_empty() {
        return;
    }
    let joined = format!("{keyword} {{ {} }}", options.join(", "));
    if joined.len() <= MAX_LINE {
        out.line(1, joined);
    } else {
        for option in options {
            out.line(1, format!("{keyword} {option}"));
        }
    }
}

/// `name` when `Some(true)`, `no name` when `Some(false)`.
fn switch(options: &mut Vec<String>, name: &str, value: Option<bool>) {
    match value {
        Some(true) => options.push(name.to_string()),
        Some(false) => options.push(format!("no {name}")),
        None => {}
    }
}

fn tcp_options(tcp: &TcpOptions) -> Vec<String> {
    let mut options = Vec::new();
    switch(&mut options, "nodelay", tcp.nodelay);
    switch(&mut options, "sack", tcp.sack);
    if !tcp.splice {
        options.push("no splice".into());
    }
    if let Some(size) = tcp.socket_buffer {
        options.push(format!("socket buffer {size}"));
    }
    if let Some(backlog) = tcp.backlog {
        options.push(format!("backlog {backlog}"));
    }
    if let Some(ttl) = tcp.ip_ttl {
        options.push(format!("ip ttl {ttl}"));
    }
    if let Some(ttl) = tcp.ip_minttl {
        options.push(format!("ip minttl {ttl}"));
    }
    options
}

fn tls_options(tls: &TlsOptions) -> Vec<String> {
    let mut options = Vec::new();
    for keypair in &tls.keypairs {
        options.push(format!("keypair {}", quoted(keypair)));
    }
    if let Some(path) = &tls.ca_file {
        options.push(format!("ca file {}", quoted(path)));
    }
    if let Some(path) = &tls.ca_cert {
        options.push(format!("ca cert {}", quoted(path)));
    }
    if let Some(path) = &tls.ca_key {
        let mut option = format!("ca key {}", quoted(path));
        if let Some(password) = &tls.ca_key_password {
            option.push_str(&format!(" password {}", quoted(password)));
        }
        options.push(option);
    }
    if let Some(path) = &tls.client_ca {
        options.push(format!("client ca {}", quoted(path)));
    }
    if let Some(name) = &tls.verify_name {
        options.push(format!("verify name {}", quoted(name)));
    }
    if let Some(ciphers) = &tls.ciphers {
        options.push(format!("ciphers {}", quoted(ciphers)));
    }
    if let Some(curves) = &tls.ecdhe {
        options.push(format!("ecdhe {}", quoted(curves)));
    }
    if let Some(params) = tls.edh {
        let params = match params {
            EdhParams::None => "none",
            EdhParams::Auto => "auto",
            EdhParams::Legacy => "legacy",
        };
        options.push(format!("edh params {params}"));
    }
    switch(&mut options, "session tickets", tls.session_tickets);
    switch(
        &mut options,
        "client-renegotiation",
        tls.client_renegotiation,
    );
    switch(
        &mut options,
        "cipher-server-preference",
        tls.cipher_server_preference,
    );
    switch(&mut options, "sslv3", tls.sslv3);
    switch(&mut options, "tlsv1.0", tls.tlsv1_0);
    switch(&mut options, "tlsv1.1", tls.tlsv1_1);
    switch(&mut options, "tlsv1.2", tls.tlsv1_2);
    switch(&mut options, "tlsv1.3", tls.tlsv1_3);
    options
}

fn http_options(http: &HttpOptions) -> Vec<String> {
    let mut options = Vec::new();
    if http.headerlen != HttpOptions::default().headerlen {
        options.push(format!("headerlen {}", http.headerlen));
    }
    if http.websockets {
        options.push("websockets".into());
    }
    // Only the extension's non-default is printed: an OpenBSD
    // configuration prints back as one.
    if !http.reuse {
        options.push("no reuse".into());
    }
    options
}

/// `ACTION DIRECTION [quick] [inet|inet6] [from P] [to P] OPTIONS...`, as
/// clauses to join.
pub fn filter_rule(rule: &FilterRule) -> Vec<String> {
    let mut words: Vec<String> = vec![
        match rule.action {
            RuleAction::Block => "block",
            RuleAction::Pass => "pass",
            RuleAction::Match => "match",
        }
        .into(),
        match rule.direction {
            Direction::Request => "request",
            Direction::Response => "response",
        }
        .into(),
    ];
    if rule.quick {
        words.push("quick".into());
    }
    match rule.family {
        Some(AddressFamily::Inet) => words.push("inet".into()),
        Some(AddressFamily::Inet6) => words.push("inet6".into()),
        None => {}
    }
    if let Some(from) = &rule.from {
        words.push(format!("from {}", prefix(from)));
    }
    if let Some(to) = &rule.to {
        words.push(format!("to {}", prefix(to)));
    }
    if let Some(table) = &rule.forward_to {
        words.push(format!("forward to {}", table_name(table)));
    }
    if let Some(method) = &rule.method {
        words.push(format!("method {method}"));
    }
    for entity in &rule.entities {
        words.extend(entity_match(entity));
    }
    if let Some(tag) = &rule.tag {
        words.push(format!("tag {}", quoted(tag)));
    }
    if rule.untag {
        words.push("no tag".into());
    }
    if let Some(tagged) = &rule.tagged {
        words.push(format!("tagged {}", quoted(tagged)));
    }
    if let Some(label) = &rule.label {
        words.push(format!("label {}", quoted(label)));
    }
    if rule.unlabel {
        words.push("no label".into());
    }
    words
}

/// `TYPE [OPTION] [[digest] KEY | file PATH]` and `value VALUE`: the value
/// is a clause of its own, where a long line may wrap.
fn entity_match(entity: &EntityMatch) -> Vec<String> {
    let mut words: Vec<String> = vec![match entity.kind {
        EntityKind::Cookie => "cookie",
        EntityKind::Header => "header",
        EntityKind::Path => "path",
        EntityKind::Query => "query",
        EntityKind::Url => "url",
    }
    .into()];
    match entity.option {
        Some(EntityOption::Append) => words.push("append".into()),
        Some(EntityOption::Set) => words.push("set".into()),
        Some(EntityOption::Remove) => words.push("remove".into()),
        Some(EntityOption::Hash) => words.push("hash".into()),
        Some(EntityOption::Log) => words.push("log".into()),
        Some(EntityOption::Strip(count)) => words.push(format!("strip {count}")),
        None => {}
    }
    match &entity.key {
        Some(EntityKey::Value(key)) => {
            if entity.digest {
                words.push("digest".into());
            }
            words.push(quoted(key));
        }
        // The keys were read from the file; naming the file reads them again.
        Some(EntityKey::File { path, .. }) => words.push(format!("file {}", quoted(path))),
        None => {}
    }
    let mut clauses = vec![words.join(" ")];
    if let Some(value) = &entity.value {
        clauses.push(format!("value {}", quoted(value)));
    }
    clauses
}
