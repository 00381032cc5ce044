//! The pest parser of relayd.conf(5) (`grammar.pest`) and the translation of
//! its failures into plain-words messages.
//!
//! The normalized text is cut into top-level statements (at newlines outside
//! braces) and each is parsed on its own: a syntax error costs only its own
//! statement, and the errors of later statements are still reported.

use crate::source::Normalized;
use crate::ConfigError;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser;

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
pub struct ConfParser;

/// One parsed top-level statement; `base` is the offset of its text in
/// [`Normalized::text`], to find the origin of its pairs.
pub struct Statement<'a> {
    pub pair: Pair<'a, Rule>,
    pub base: usize,
}

/// The statements of a file that parsed, and what went wrong with the rest.
#[derive(Default)]
pub struct Parsed<'a> {
    pub statements: Vec<Statement<'a>>,
    pub errors: Vec<ConfigError>,
    /// Tables and protocols whose definition had a syntax error: later
    /// uses of these names are not reported again as unknown.
    pub broken_names: Vec<String>,
}

/// Parses every top-level statement of `src`, in order. Statements with a
/// syntax error are left out and reported.
pub fn parse_statements(src: &Normalized) -> Parsed<'_> {
    let mut statements = Vec::new();
    let mut errors = Vec::new();
    let mut broken_names = Vec::new();
    let mut start = 0;
    // The text's end closes a last statement that no newline ends.
    let last = src
        .statement_ends
        .last()
        .is_none_or(|&e| e + 1 < src.text.len())
        .then(|| src.text.len().saturating_sub(1));
    for end in src.statement_ends.iter().copied().chain(last) {
        let stop = (end + 1).min(src.text.len());
        if stop <= start {
            continue;
        }
        let chunk = &src.text[start..stop];
        if !chunk.trim().is_empty() {
            match ConfParser::parse(Rule::statement, chunk) {
                Ok(mut pairs) => {
                    if let Some(pair) = pairs.next() {
                        statements.push(Statement { pair, base: start });
                    }
                }
                Err(e) => {
                    errors.push(syntax_error(src, start, chunk, &e));
                    errors.extend(later_option_errors(src, start, chunk, error_offset(&e)));
                    broken_names.extend(defined_name(chunk));
                }
            }
        }
        start = stop;
    }
    Parsed {
        statements,
        errors,
        broken_names,
    }
}

/// The name a broken `table <name>` or `... protocol name` statement was
/// meant to define, read from its first words.
fn defined_name(chunk: &str) -> Option<String> {
    let words: Vec<&str> = chunk
        .split(|c: char| c.is_whitespace() || "{}<>\"".contains(c))
        .filter(|w| !w.is_empty())
        .take(4)
        .collect();
    let at = words
        .iter()
        .position(|w| *w == "table" || *w == "protocol")?;
    words.get(at + 1).map(|w| w.to_string())
}

fn error_offset(error: &pest::error::Error<Rule>) -> usize {
    match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((p, _)) => p,
    }
}

/// After a syntax error at `failed_at` in a block statement, parses the
/// block's later options one by one and returns their syntax errors.
fn later_option_errors(
    src: &Normalized,
    base: usize,
    chunk: &str,
    failed_at: usize,
) -> Vec<ConfigError> {
    let first_words: Vec<&str> = chunk.split_whitespace().take(2).collect();
    let line_rule = match first_words.as_slice() {
        ["redirect", ..] => Rule::redirect_line,
        ["relay", ..] => Rule::relay_line,
        ["router", ..] => Rule::router_line,
        ["protocol", ..] | [_, "protocol"] => Rule::protocol_line,
        _ => return Vec::new(),
    };
    let Some(body_end) = chunk.rfind('}') else {
        return Vec::new();
    };
    // Option groups: lines, joined while a nested `{` is open. The group
    // holding the error and any nested block it sits in are skipped.
    let mut errors = Vec::new();
    let mut depth = 0i64;
    let mut in_quote = false;
    let mut escaped = false;
    let mut group_start: Option<usize> = None;
    for (offset, c) in chunk[..body_end].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '{' if !in_quote => depth += 1,
            '}' if !in_quote => depth -= 1,
            '\n' if depth == 1 => {
                if let Some(start) = group_start.take() {
                    if start > failed_at {
                        errors.extend(option_error(src, base, chunk, start, offset, line_rule));
                    }
                }
                group_start = Some(offset + 1);
                continue;
            }
            _ => {}
        }
        if depth < 1 {
            group_start = None;
        }
    }
    if let Some(start) = group_start {
        if start > failed_at {
            errors.extend(option_error(src, base, chunk, start, body_end, line_rule));
        }
    }
    errors
}

fn option_error(
    src: &Normalized,
    base: usize,
    chunk: &str,
    start: usize,
    end: usize,
    rule: Rule,
) -> Option<ConfigError> {
    let group = &chunk[start..end];
    let trimmed = group.trim_start_matches([' ', '\t', '\r', '\n']);
    let start = start + (group.len() - trimmed.len());
    let text = trimmed.trim_end();
    if text.is_empty() {
        return None;
    }
    let error = ConfParser::parse(rule, text).err()?;
    Some(syntax_error(src, base + start, text, &error))
}

fn syntax_error(
    src: &Normalized,
    base: usize,
    chunk: &str,
    error: &pest::error::Error<Rule>,
) -> ConfigError {
    let pos = error_offset(error);
    let mut expected: Vec<&str> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for rule in positives {
            let text = describe(*rule);
            if !expected.contains(&text) {
                expected.push(text);
            }
        }
    }
    let found = found_token(&chunk[pos..]);
    let mut message = String::from("syntax error");
    if !expected.is_empty() {
        message.push_str(", expected ");
        message.push_str(&join_alternatives(&expected));
    }
    message.push_str(&format!(", found {found}"));
    if found == "end of file" && unclosed_braces(chunk) {
        message.push_str(" (a '}' is missing)");
    }
    src.error_at(src.loc_at(base + pos), message)
}

/// More `{` than `}` outside quoted strings.
fn unclosed_braces(chunk: &str) -> bool {
    let mut depth = 0i64;
    let mut in_quote = false;
    let mut escaped = false;
    for c in chunk.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '{' if !in_quote => depth += 1,
            '}' if !in_quote => depth -= 1,
            _ => {}
        }
    }
    depth > 0
}

fn join_alternatives(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The longest word an error quotes.
const QUOTED_WORD: usize = 32;

/// The text where parsing stopped, for "found ...". A word is quoted only
/// when it could be a word of relayd.conf (letters, digits, `-`, `_`, `.`,
/// at most [`QUOTED_WORD`] of them); anything else, and every quoted
/// string, is only described, so a file that is not a configuration
/// (`relayctl load /etc/shadow`) is never echoed.
fn found_token(rest: &str) -> String {
    let rest = rest.trim_start_matches([' ', '\t', '\r']);
    match rest.chars().next() {
        None => "end of file".to_string(),
        Some('\n') => "end of line".to_string(),
        Some(c) if "{}<>,/=!()".contains(c) => format!("'{c}'"),
        Some('"') => "a quoted string".to_string(),
        Some(_) => {
            let word: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && !"{}<>,/=!()".contains(*c))
                .collect();
            let plain = word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if plain && word.len() <= QUOTED_WORD {
                format!("\"{word}\"")
            } else {
                "a word that is not relayd.conf's".to_string()
            }
        }
    }
}

/// What a grammar rule stands for, in the words of relayd.conf(5).
pub fn describe(rule: Rule) -> &'static str {
    if let Some(word) = keyword_text(rule) {
        return word;
    }
    match rule {
        Rule::statement => "a statement",
        Rule::redirect_line | Rule::relay_line | Rule::protocol_line | Rule::router_line => {
            "an option"
        }
        Rule::end_of_line | Rule::EOI => "end of line",
        Rule::bare | Rule::quoted | Rule::quoted_inner | Rule::string | Rule::any_word => {
            "a string"
        }
        Rule::number => "a number",
        Rule::table_ref => "a table name in <...>",
        Rule::addr_prefix => "an address[/prefix]",
        Rule::port_spec => "'port'",
        Rule::ssltls => "'tls'",
        Rule::global_opt => {
            "a statement (table, redirect, relay, protocol, router, include, a macro \
             definition or a global option: interval, log, timeout, prefork, snmp, \
             agentx, socket, demote, metrics)"
        }
        Rule::interval_opt => "'interval'",
        Rule::timeout_opt => "'timeout'",
        Rule::prefork_opt => "'prefork'",
        Rule::socket_opt => "'socket'",
        Rule::demote_opt => "'demote'",
        Rule::log_opt => "'log'",
        Rule::log_state_changes => "'state changes'",
        Rule::log_host_checks => "'host checks'",
        Rule::log_connection => "'connection'",
        Rule::log_legacy => "'state changes', 'host checks' or 'connection'",
        Rule::snmp_opt => "'snmp'",
        Rule::agentx_opt => "'agentx'",
        Rule::agentx_context => "'context'",
        Rule::agentx_path => "'path'",
        Rule::metrics_opt => "'metrics listen on'",
        Rule::table_def => "'table'",
        Rule::host_list => "a host list in { ... }",
        Rule::host => "a host address",
        Rule::host_opt => "a host option (retry, parent, priority, ip ttl)",
        Rule::host_retry => "'retry'",
        Rule::host_parent => "'parent'",
        Rule::host_priority => "'priority'",
        Rule::host_ip_ttl => "'ip ttl'",
        Rule::table_opt => "a table option (check, port, timeout, interval, demote, mode, retry)",
        Rule::table_timeout => "'timeout'",
        Rule::table_interval => "'interval'",
        Rule::table_demote => "'demote'",
        Rule::table_retry => "'retry'",
        Rule::table_mode => "'mode'",
        Rule::dst_mode => {
            "a scheduling mode (roundrobin, loadbalance, hash, source-hash, random, \
             least-states)"
        }
        Rule::hash_key => "a hash key",
        Rule::check => "'check'",
        Rule::check_icmp
        | Rule::check_tcp
        | Rule::check_tls
        | Rule::check_http
        | Rule::check_send
        | Rule::check_binary
        | Rule::check_script => {
            "a check type (icmp, tcp, tls, http, https, send, binary send, script)"
        }
        Rule::http_scheme | Rule::https => "'http' or 'https'",
        Rule::check_http_host => "'host'",
        Rule::check_http_code | Rule::check_http_digest => "'code' or 'digest'",
        Rule::send_data => "data to send (a string or 'nothing')",
        Rule::redirect => "'redirect'",
        Rule::redirect_opt => {
            "a redirect option (listen on, forward to, route to, [match] pftag, \
             sticky-address, session timeout, disable)"
        }
        Rule::redirect_forward | Rule::relay_forward | Rule::router_forward => "'forward to'",
        Rule::forward_mode => "'forward', 'route' or 'transparent forward'",
        Rule::transparent_forward => "'transparent forward'",
        Rule::redirect_listen | Rule::relay_listen => "'listen on'",
        Rule::ip_proto => "an IP protocol (tcp, udp)",
        Rule::interface => "'interface'",
        Rule::redirect_pftag => "'pftag'",
        Rule::session_timeout => "'session timeout'",
        Rule::relay => "'relay'",
        Rule::relay_opt => {
            "a relay option (listen on, forward to, protocol, session timeout, disable)"
        }
        Rule::relay_protocol => "'protocol'",
        Rule::forward_tls => "'with tls'",
        Rule::forward_target
        | Rule::forward_table
        | Rule::forward_nat_lookup
        | Rule::forward_destination
        | Rule::forward_address => {
            "a forward target (<table>, an address, destination, nat lookup)"
        }
        Rule::forward_af | Rule::forward_inet | Rule::forward_inet6 => {
            "an address family (inet, inet6 PREFIX)"
        }
        Rule::protocol => "'protocol'",
        Rule::protocol_kind | Rule::dns => "'tcp', 'http' or 'dns'",
        Rule::protocol_body => "a protocol block in { ... }",
        Rule::protocol_opt => {
            "a protocol option (tcp, tls, http, return error, block, pass, match)"
        }
        Rule::tls_opts => "'tls'",
        Rule::tls_flag
        | Rule::tls_session_tickets
        | Rule::tls_no_session_tickets
        | Rule::tls_ciphers
        | Rule::tls_no_edh
        | Rule::tls_edh
        | Rule::tls_ecdhe
        | Rule::tls_ca_file
        | Rule::tls_ca_key
        | Rule::tls_ca_cert
        | Rule::tls_keypair
        | Rule::tls_client_ca
        | Rule::tls_verify_name
        | Rule::tls_switch => {
            "a tls option (ca cert, ca file, ca key, ciphers, client ca, ecdhe, edh, keypair, verify name, \
             session tickets, client-renegotiation, cipher-server-preference, sslv3, \
             tlsv1, tlsv1.0 ... tlsv1.3, or 'no' and one of these)"
        }
        Rule::tcp_opts => "'tcp'",
        Rule::tcp_flag
        | Rule::tcp_no_sack
        | Rule::tcp_no_nodelay
        | Rule::tcp_no_splice
        | Rule::tcp_backlog
        | Rule::tcp_socket_buffer
        | Rule::tcp_ip_ttl
        | Rule::tcp_ip_minttl
        | Rule::minttl => {
            "a tcp option (nodelay, sack, splice, backlog, socket buffer, ip ttl, \
             ip minttl, or 'no' and one of nodelay, sack, splice)"
        }
        Rule::http_opts => "'http'",
        Rule::http_flag
        | Rule::http_headerlen
        | Rule::http_no_websockets
        | Rule::http_reuse
        | Rule::http_no_reuse
        | Rule::reuse => {
            "an http option (headerlen, websockets, reuse, or 'no' and one of websockets, reuse)"
        }
        Rule::return_error => "'return error'",
        Rule::error_style => "'style'",
        Rule::filter_rule => "a filter rule (block, pass, match)",
        Rule::rule_action => "'block', 'pass' or 'match'",
        Rule::rule_direction => "a direction (request, response)",
        Rule::rule_family => "an address family (inet, inet6)",
        Rule::rule_from => "'from'",
        Rule::rule_to => "'to'",
        Rule::rule_opt
        | Rule::rule_method
        | Rule::rule_forward
        | Rule::rule_tag
        | Rule::rule_tagged
        | Rule::rule_label
        | Rule::rule_no_tag
        | Rule::rule_no_label => {
            "a rule option (method, cookie, header, path, query, url, forward to, \
             tag, tagged, label, no tag, no label)"
        }
        Rule::entity | Rule::entity_kind => "an entity (cookie, header, path, query, url)",
        Rule::key_option => "an entity option (append, set, remove, hash, log)",
        Rule::entity_strip => "'strip'",
        Rule::entity_file => "'file'",
        Rule::entity_key => "a key",
        Rule::entity_value => "'value'",
        Rule::router => "'router'",
        Rule::router_opt => "a router option (route, forward to, rtable, rtlabel, disable)",
        Rule::router_route => "'route'",
        Rule::router_rtable => "'rtable'",
        Rule::router_rtlabel => "'rtlabel'",
        Rule::keyword => "a keyword",
        _ => "something else",
    }
}

pub fn keyword_text(rule: Rule) -> Option<&'static str> {
    let text = match rule {
        Rule::k_agentx => "'agentx'",
        Rule::k_append => "'append'",
        Rule::k_backlog => "'backlog'",
        Rule::k_backup => "'backup'",
        Rule::k_binary => "'binary'",
        Rule::k_block => "'block'",
        Rule::k_buffer => "'buffer'",
        Rule::k_ca => "'ca'",
        Rule::k_cache => "'cache'",
        Rule::k_cert => "'cert'",
        Rule::k_changes => "'changes'",
        Rule::k_check => "'check'",
        Rule::k_checks => "'checks'",
        Rule::k_client => "'client'",
        Rule::k_ciphers => "'ciphers'",
        Rule::k_code => "'code'",
        Rule::k_connection => "'connection'",
        Rule::k_context => "'context'",
        Rule::k_cookie => "'cookie'",
        Rule::k_demote => "'demote'",
        Rule::k_destination => "'destination'",
        Rule::k_digest => "'digest'",
        Rule::k_disable => "'disable'",
        Rule::k_ecdhe => "'ecdhe'",
        Rule::k_edh => "'edh'",
        Rule::k_error => "'error'",
        Rule::k_errors => "'errors'",
        Rule::k_expect => "'expect'",
        Rule::k_external => "'external'",
        Rule::k_file => "'file'",
        Rule::k_forward => "'forward'",
        Rule::k_from => "'from'",
        Rule::k_hash => "'hash'",
        Rule::k_header => "'header'",
        Rule::k_headerlen => "'headerlen'",
        Rule::k_host => "'host'",
        Rule::k_http => "'http'",
        Rule::k_icmp => "'icmp'",
        Rule::k_include => "'include'",
        Rule::k_inet => "'inet'",
        Rule::k_inet6 => "'inet6'",
        Rule::k_interface => "'interface'",
        Rule::k_interval => "'interval'",
        Rule::k_ip => "'ip'",
        Rule::k_key => "'key'",
        Rule::k_keypair => "'keypair'",
        Rule::k_label => "'label'",
        Rule::k_least_states => "'least-states'",
        Rule::k_listen => "'listen'",
        Rule::k_loadbalance => "'loadbalance'",
        Rule::k_log => "'log'",
        Rule::k_lookup => "'lookup'",
        Rule::k_match => "'match'",
        Rule::k_method => "'method'",
        Rule::k_mode => "'mode'",
        Rule::k_nat => "'nat'",
        Rule::k_no => "'no'",
        Rule::k_nodelay => "'nodelay'",
        Rule::k_nothing => "'nothing'",
        Rule::k_on => "'on'",
        Rule::k_params => "'params'",
        Rule::k_parent => "'parent'",
        Rule::k_pass => "'pass'",
        Rule::k_password => "'password'",
        Rule::k_path => "'path'",
        Rule::k_pftag => "'pftag'",
        Rule::k_port => "'port'",
        Rule::k_prefork => "'prefork'",
        Rule::k_priority => "'priority'",
        Rule::k_protocol => "'protocol'",
        Rule::k_query => "'query'",
        Rule::k_quick => "'quick'",
        Rule::k_random => "'random'",
        Rule::k_real => "'real'",
        Rule::k_redirect => "'redirect'",
        Rule::k_relay => "'relay'",
        Rule::k_remove => "'remove'",
        Rule::k_request => "'request'",
        Rule::k_response => "'response'",
        Rule::k_retry => "'retry'",
        Rule::k_return => "'return'",
        Rule::k_roundrobin => "'roundrobin'",
        Rule::k_route => "'route'",
        Rule::k_router => "'router'",
        Rule::k_rtable => "'rtable'",
        Rule::k_rtlabel => "'rtlabel'",
        Rule::k_sack => "'sack'",
        Rule::k_script => "'script'",
        Rule::k_send => "'send'",
        Rule::k_session => "'session'",
        Rule::k_set => "'set'",
        Rule::k_snmp => "'snmp'",
        Rule::k_socket => "'socket'",
        Rule::k_source_hash => "'source-hash'",
        Rule::k_splice => "'splice'",
        Rule::k_ssl => "'ssl'",
        Rule::k_state => "'state'",
        Rule::k_sticky_address => "'sticky-address'",
        Rule::k_strip => "'strip'",
        Rule::k_style => "'style'",
        Rule::k_table => "'table'",
        Rule::k_tag => "'tag'",
        Rule::k_tagged => "'tagged'",
        Rule::k_tcp => "'tcp'",
        Rule::k_tickets => "'tickets'",
        Rule::k_timeout => "'timeout'",
        Rule::k_tls => "'tls'",
        Rule::k_to => "'to'",
        Rule::k_transparent => "'transparent'",
        Rule::k_trap => "'trap'",
        Rule::k_ttl => "'ttl'",
        Rule::k_url => "'url'",
        Rule::k_value => "'value'",
        Rule::k_websockets => "'websockets'",
        Rule::k_with => "'with'",
        // Words of extensions that relayd's lexer does not reserve.
        Rule::c_verify => "'verify'",
        Rule::c_name => "'name'",
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::macros::MacroTable;
    use crate::source::Preprocessor;

    /// The whole of `word` is a keyword to the grammar.
    fn is_keyword(word: &str) -> bool {
        ConfParser::parse(Rule::keyword, word)
            .ok()
            .and_then(|mut pairs| pairs.next())
            .is_some_and(|pair| pair.as_str() == word)
    }

    #[test]
    fn keyword_knows_every_reserved_word_and_only_whole_words() {
        let grammar_only = ["client", "metrics"];
        for word in crate::macros::RESERVED_WORDS.iter().chain(&grammar_only) {
            assert!(is_keyword(word), "{word}");
            for longer in [format!("{word}x"), format!("{word}-1"), format!("{word}.")] {
                assert!(!is_keyword(&longer), "{longer}");
            }
        }
        for word in ["127.0.0.1", "web", "cach", "Check", "inet7", "t", "_ca"] {
            assert!(!is_keyword(word), "{word}");
        }
    }

    fn parse(text: &str) -> (usize, Vec<ConfigError>) {
        let (src, pre_errors) = Preprocessor::new(MacroTable::default()).run(text, "t.conf");
        assert!(pre_errors.is_empty(), "{pre_errors:?}");
        let parsed = parse_statements(&src);
        (parsed.statements.len(), parsed.errors)
    }

    #[test]
    fn statements_parse_one_by_one() {
        let (n, errors) = parse(
            "interval 5\ntable <web> { 10.0.0.1, 10.0.0.2 retry 2 }\n\
             relay r {\n listen on 127.0.0.1 port 80\n forward to <web> port 80\n}\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(n, 3);
    }

    #[test]
    fn errors_quote_only_words_relayd_conf_could_have() {
        let (_, errors) = parse(
            "root:$y$j9T$secrethash:20228:0:99999:7:::\n\
             \"quoted secret\"\n\
             averyveryverylongwordofthirtythreec\n\
             relay r {\n lisen on 127.0.0.1 port 80\n}\n",
        );
        let text: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        for message in &text[..3] {
            for secret in ["root", "secret", "averyvery"] {
                assert!(!message.contains(secret), "{message}");
            }
        }
        assert!(
            text[0].ends_with("found a word that is not relayd.conf's"),
            "{}",
            text[0]
        );
        assert!(text[1].ends_with("found a quoted string"), "{}", text[1]);
        assert!(text[3].contains("found \"lisen\""), "{}", text[3]);
    }

    #[test]
    fn errors_name_what_was_expected_in_words() {
        let (n, errors) =
            parse("interval 5\nrelay r {\n lisen on 127.0.0.1 port 80\n}\nprefork x\n");
        assert_eq!(n, 1);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!((errors[0].line, errors[0].column), (3, 2));
        assert!(
            errors[0].message.contains("a relay option"),
            "{}",
            errors[0].message
        );
        assert!(
            errors[0].message.contains("found \"lisen\""),
            "{}",
            errors[0].message
        );
        assert_eq!(errors[1].line, 5);
        assert!(
            errors[1].message.contains("a number"),
            "{}",
            errors[1].message
        );
    }
}
