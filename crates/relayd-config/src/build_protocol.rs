//! Building protocols (`[tcp|http|dns] protocol NAME { ... }`): tcp, tls
//! and http options, `return error` and filter rules.

use crate::build::{first_text, not_keyword, table_name, text, Builder};
use crate::syntax::Rule;
use crate::*;
use pest::iterators::Pair;

/// HTTP methods relayd knows (relayd.conf(5), FILTER RULES).
const HTTP_METHODS: &[&str] = &[
    "ACL",
    "BASELINE-CONTROL",
    "CHECKIN",
    "CHECKOUT",
    "CONNECT",
    "COPY",
    "DELETE",
    "GET",
    "HEAD",
    "LABEL",
    "LOCK",
    "MERGE",
    "MKACTIVITY",
    "MKCOL",
    "MKREDIRECTREF",
    "MKWORKSPACE",
    "MOVE",
    "OPTIONS",
    "ORDERPATCH",
    "PATCH",
    "POST",
    "PROPFIND",
    "PROPPATCH",
    "PUT",
    "REPORT",
    "SEARCH",
    "TRACE",
    "UNCHECKOUT",
    "UNLOCK",
    "UPDATE",
    "UPDATEREDIRECTREF",
    "VERSION-CONTROL",
];

impl Builder<'_> {
    pub(crate) fn protocol(&mut self, pair: Pair<'_, Rule>) {
        let origin = self.origin(&pair);
        let mut kind = ProtocolKind::Tcp;
        let mut name_pair = None;
        let mut body = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::protocol_kind => {
                    kind = match part.as_str().trim() {
                        "http" => ProtocolKind::Http,
                        "dns" => ProtocolKind::Dns,
                        _ => ProtocolKind::Tcp,
                    }
                }
                Rule::string => name_pair = Some(part),
                Rule::protocol_body => body = Some(part),
                _ => {}
            }
        }
        let Some(name_pair) = name_pair else { return };
        let name = text(&name_pair);
        if name == "default" || self.config.protocol(&name).is_some() {
            self.error(&name_pair, format!("protocol {name} defined twice"));
            return;
        }
        if name.len() >= 64 {
            self.error(
                &name_pair,
                format!("protocol name {name} too long (at most 63 characters)"),
            );
        }
        let mut protocol = Protocol {
            id: self.config.protocols.len() as ObjectId + 1,
            name,
            kind,
            tcp: TcpOptions::default(),
            tls: TlsOptions::default(),
            http: HttpOptions::default(),
            return_error: None,
            rules: Vec::new(),
            origin,
        };
        let mut verify_name_loc = None;
        let options = body
            .into_iter()
            .flat_map(|b| b.into_inner())
            .filter(|p| p.as_rule() == Rule::protocol_opt)
            .filter_map(|p| p.into_inner().next());
        for option in options {
            match option.as_rule() {
                Rule::tls_opts => {
                    for flag in option
                        .into_inner()
                        .filter(|p| p.as_rule() == Rule::tls_flag)
                    {
                        let inner = flag.clone().into_inner().next();
                        if let Some(verify) = inner.filter(|f| f.as_rule() == Rule::tls_verify_name)
                        {
                            verify_name_loc = Some(self.loc(&verify));
                        }
                        self.tls_flag(flag, &mut protocol.tls);
                    }
                }
                Rule::tcp_opts => {
                    for flag in option
                        .into_inner()
                        .filter(|p| p.as_rule() == Rule::tcp_flag)
                    {
                        self.tcp_flag(flag, &mut protocol.tcp);
                    }
                }
                Rule::http_opts => {
                    if kind != ProtocolKind::Http {
                        self.error(&option, "can set http options only for http protocol");
                        continue;
                    }
                    for flag in option
                        .into_inner()
                        .filter(|p| p.as_rule() == Rule::http_flag)
                    {
                        self.http_flag(flag, &mut protocol.http);
                    }
                }
                Rule::return_error => {
                    let style = option
                        .into_inner()
                        .filter(|p| p.as_rule() == Rule::error_style)
                        .filter_map(|p| first_text(&p))
                        .last();
                    protocol.return_error = Some(ReturnError { style });
                }
                Rule::filter_rule => {
                    if let Some(rule) = self.filter_rule(option) {
                        protocol.rules.push(rule);
                    }
                }
                _ => {}
            }
        }
        if !tls_versions_enabled(&protocol.tls) {
            self.error_at(
                self.src.loc_at(self.base),
                format!(
                    "invalid TLS protocol: protocol {} disables every TLS version",
                    protocol.name
                ),
            );
        }
        if let (Some(loc), Some(name), None) = (
            verify_name_loc,
            &protocol.tls.verify_name,
            &protocol.tls.ca_file,
        ) {
            self.error_at(
                loc,
                format!(
                    "protocol {}: tls verify name {name} needs tls ca file \
                     (a name is only worth checking on a verified certificate)",
                    protocol.name
                ),
            );
        }
        self.config.protocols.push(protocol);
    }

    fn tls_flag(&mut self, pair: Pair<'_, Rule>, tls: &mut TlsOptions) {
        let Some(flag) = pair.into_inner().next() else {
            return;
        };
        let origin = self.origin(&flag);
        let arg = first_text(&flag);
        let origins = &mut tls.origins;
        match flag.as_rule() {
            Rule::tls_session_tickets | Rule::tls_no_session_tickets => {
                tls.session_tickets = Some(flag.as_rule() == Rule::tls_session_tickets);
                origins.session_tickets = Some(origin);
            }
            Rule::tls_ciphers => {
                tls.ciphers = arg;
                origins.ciphers = Some(origin);
            }
            Rule::tls_no_edh => {
                tls.edh = None;
                origins.edh = Some(origin);
            }
            Rule::tls_edh => {
                tls.edh = match arg.as_deref() {
                    None | Some("auto") => Some(EdhParams::Auto),
                    Some("none") => Some(EdhParams::None),
                    Some("legacy") | Some("1024") => Some(EdhParams::Legacy),
                    Some(bits)
                        if bits
                            .parse::<u32>()
                            .is_ok_and(|b| (1024..=8192).contains(&b)) =>
                    {
                        Some(EdhParams::Auto)
                    }
                    Some(other) => {
                        self.error(
                            &flag,
                            format!("tls edh params {other}: expected none, auto or legacy"),
                        );
                        return;
                    }
                };
                origins.edh = Some(origin);
            }
            Rule::tls_ecdhe => {
                tls.ecdhe = arg;
                origins.ecdhe = Some(origin);
            }
            Rule::tls_ca_file => {
                tls.ca_file = arg;
                origins.ca_file = Some(origin);
            }
            Rule::tls_ca_cert => {
                tls.ca_cert = arg;
                origins.ca_cert = Some(origin);
            }
            Rule::tls_ca_key => {
                let mut strings = flag.into_inner().filter(not_keyword).map(|p| text(&p));
                tls.ca_key = strings.next();
                tls.ca_key_password = strings.next();
                origins.ca_key = Some(origin);
            }
            Rule::tls_keypair => {
                tls.keypairs.extend(arg);
                origins.keypairs.push(origin);
            }
            Rule::tls_client_ca => {
                tls.client_ca = arg;
                origins.client_ca = Some(origin);
            }
            Rule::tls_verify_name => {
                tls.verify_name = arg;
                origins.verify_name = Some(origin);
            }
            Rule::tls_switch => {
                let enable = !flag.clone().into_inner().any(|p| p.as_rule() == Rule::k_no);
                let word = arg.unwrap_or_default();
                let set = |value: &mut Option<bool>, line: &mut Option<Origin>| {
                    *value = Some(enable);
                    *line = Some(origin.clone());
                };
                match word.as_str() {
                    "sslv3" => set(&mut tls.sslv3, &mut origins.sslv3),
                    "tlsv1" => {
                        set(&mut tls.tlsv1_0, &mut origins.tlsv1_0);
                        set(&mut tls.tlsv1_1, &mut origins.tlsv1_1);
                        set(&mut tls.tlsv1_2, &mut origins.tlsv1_2);
                        set(&mut tls.tlsv1_3, &mut origins.tlsv1_3);
                    }
                    "tlsv1.0" => set(&mut tls.tlsv1_0, &mut origins.tlsv1_0),
                    "tlsv1.1" => set(&mut tls.tlsv1_1, &mut origins.tlsv1_1),
                    "tlsv1.2" => set(&mut tls.tlsv1_2, &mut origins.tlsv1_2),
                    "tlsv1.3" => set(&mut tls.tlsv1_3, &mut origins.tlsv1_3),
                    "cipher-server-preference" => set(
                        &mut tls.cipher_server_preference,
                        &mut origins.cipher_server_preference,
                    ),
                    "client-renegotiation" => set(
                        &mut tls.client_renegotiation,
                        &mut origins.client_renegotiation,
                    ),
                    _ => self.error(
                        &flag,
                        format!(
                            "invalid TLS flag: {word} (expected sslv3, tlsv1, tlsv1.0, \
                             tlsv1.1, tlsv1.2, tlsv1.3, cipher-server-preference or \
                             client-renegotiation)"
                        ),
                    ),
                }
            }
            _ => {}
        }
    }

    fn tcp_flag(&mut self, pair: Pair<'_, Rule>, tcp: &mut TcpOptions) {
        let Some(flag) = pair.into_inner().next() else {
            return;
        };
        let number = flag
            .clone()
            .into_inner()
            .find(|p| p.as_rule() == Rule::number);
        match flag.as_rule() {
            Rule::k_sack => tcp.sack = Some(true),
            Rule::tcp_no_sack => tcp.sack = Some(false),
            Rule::k_nodelay => tcp.nodelay = Some(true),
            Rule::tcp_no_nodelay => tcp.nodelay = Some(false),
            Rule::k_splice => tcp.splice = true,
            Rule::tcp_no_splice => tcp.splice = false,
            Rule::tcp_backlog => {
                if let Some(n) =
                    number.and_then(|n| self.number_in(&n, 0..=i64::from(MAX_BACKLOG), "backlog"))
                {
                    tcp.backlog = Some(n as u32);
                }
            }
            Rule::tcp_socket_buffer => {
                if let Some(n) = number
                    .and_then(|n| self.number_in(&n, 0..=i64::from(i32::MAX), "socket buffer size"))
                {
                    tcp.socket_buffer = Some(n as u32);
                }
            }
            Rule::tcp_ip_ttl => {
                if let Some(n) = number.and_then(|n| self.number_in(&n, 0..=255, "ttl")) {
                    tcp.ip_ttl = Some(n as u8);
                }
            }
            Rule::tcp_ip_minttl => {
                if let Some(n) = number.and_then(|n| self.number_in(&n, 0..=255, "minttl")) {
                    tcp.ip_minttl = Some(n as u8);
                }
            }
            _ => {}
        }
    }

    fn http_flag(&mut self, pair: Pair<'_, Rule>, http: &mut HttpOptions) {
        let Some(flag) = pair.into_inner().next() else {
            return;
        };
        match flag.as_rule() {
            Rule::http_headerlen => {
                let number = flag
                    .clone()
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::number);
                if let Some(n) = number
                    .and_then(|n| self.number_in(&n, 0..=i64::from(MAX_HEADERLEN), "headerlen"))
                {
                    http.headerlen = n as u32;
                }
            }
            Rule::k_websockets => http.websockets = true,
            Rule::http_no_websockets => http.websockets = false,
            Rule::http_reuse => http.reuse = true,
            Rule::http_no_reuse => http.reuse = false,
            _ => {}
        }
    }

    fn filter_rule(&mut self, pair: Pair<'_, Rule>) -> Option<FilterRule> {
        let origin = self.origin(&pair);
        let mut rule = FilterRule {
            action: RuleAction::Pass,
            quick: false,
            direction: Direction::Request,
            family: None,
            from: None,
            to: None,
            forward_to: None,
            tag: None,
            tagged: None,
            label: None,
            untag: false,
            unlabel: false,
            method: None,
            entities: Vec::new(),
            origin,
        };
        let mut ok = true;
        let mut file_seen = false;
        for part in pair.clone().into_inner() {
            match part.as_rule() {
                Rule::rule_action => {
                    rule.action = match part.into_inner().next().map(|p| p.as_rule()) {
                        Some(Rule::k_block) => RuleAction::Block,
                        Some(Rule::k_match) => RuleAction::Match,
                        _ => RuleAction::Pass,
                    }
                }
                Rule::rule_direction if part.as_str().trim() == "response" => {
                    rule.direction = Direction::Response;
                }
                Rule::k_quick => rule.quick = true,
                Rule::rule_family => {
                    rule.family = Some(if part.as_str().trim() == "inet6" {
                        AddressFamily::Inet6
                    } else {
                        AddressFamily::Inet
                    });
                }
                Rule::rule_from => {
                    rule.from = self.addr_prefix(part.into_inner().find(not_keyword));
                    ok &= rule.from.is_some();
                }
                Rule::rule_to => {
                    rule.to = self.addr_prefix(part.into_inner().find(not_keyword));
                    ok &= rule.to.is_some();
                }
                Rule::rule_opt => {
                    let Some(option) = part.into_inner().next() else {
                        continue;
                    };
                    ok &= self.rule_option(option, &mut rule, &mut file_seen);
                }
                _ => {}
            }
        }
        let family_of = |p: &Option<Prefix>| {
            p.map(|p| {
                if p.addr.is_ipv4() {
                    AddressFamily::Inet
                } else {
                    AddressFamily::Inet6
                }
            })
        };
        let families = [rule.family, family_of(&rule.from), family_of(&rule.to)];
        let mut known = families.iter().flatten();
        if let Some(first) = known.next() {
            if known.any(|f| f != first) {
                self.error(&pair, "address family mismatch");
                ok = false;
            }
        }
        ok.then_some(rule)
    }

    /// One rule option; false when it was in error.
    fn rule_option(
        &mut self,
        option: Pair<'_, Rule>,
        rule: &mut FilterRule,
        file_seen: &mut bool,
    ) -> bool {
        let arg = option.clone().into_inner().find(not_keyword);
        match option.as_rule() {
            Rule::rule_method => {
                let method = arg
                    .map(|a| text(&a))
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                if !HTTP_METHODS.contains(&method.as_str()) {
                    self.error(
                        &option,
                        format!("unknown HTTP method currently not supported: {method}"),
                    );
                    return false;
                }
                rule.method = Some(method);
            }
            Rule::rule_forward => {
                let table = arg.map(|a| table_name(&a)).unwrap_or_default();
                if !self.templates.iter().any(|t| t.name == table)
                    && !self.broken_names.contains(&table)
                {
                    self.error(&option, format!("undefined forward table <{table}>"));
                    return false;
                }
                rule.forward_to = Some(table);
            }
            Rule::rule_tag | Rule::rule_tagged | Rule::rule_label => {
                let value = arg.map(|a| text(&a)).unwrap_or_default();
                let (slot, what, max) = match option.as_rule() {
                    Rule::rule_tag => (&mut rule.tag, "tag", 64),
                    Rule::rule_tagged => (&mut rule.tagged, "tagged", 64),
                    _ => (&mut rule.label, "label", 1024),
                };
                if slot.is_some() {
                    self.error(&option, format!("{what} already defined"));
                    return false;
                }
                if value.is_empty() || value.len() >= max {
                    self.error(&option, format!("invalid {what} \"{value}\""));
                    return false;
                }
                *slot = Some(value);
                match option.as_rule() {
                    Rule::rule_tag => self.seen_tag = true,
                    Rule::rule_label => self.seen_label = true,
                    _ => {}
                }
            }
            Rule::rule_no_tag => {
                if !self.seen_tag {
                    self.error(&option, "no tag defined (no earlier rule sets a tag)");
                    return false;
                }
                rule.untag = true;
            }
            Rule::rule_no_label => {
                if !self.seen_label {
                    self.error(&option, "no label defined (no earlier rule sets a label)");
                    return false;
                }
                rule.unlabel = true;
            }
            Rule::entity => match self.entity(option, rule.direction, file_seen) {
                Some(entity) => rule.entities.push(entity),
                None => return false,
            },
            _ => {}
        }
        true
    }

    fn entity(
        &mut self,
        pair: Pair<'_, Rule>,
        direction: Direction,
        file_seen: &mut bool,
    ) -> Option<EntityMatch> {
        let mut entity = EntityMatch {
            kind: EntityKind::Header,
            option: None,
            digest: false,
            key: None,
            value: None,
        };
        for part in pair.clone().into_inner() {
            match part.as_rule() {
                Rule::entity_kind => {
                    entity.kind = match part.as_str().trim() {
                        "cookie" => EntityKind::Cookie,
                        "path" => EntityKind::Path,
                        "query" => EntityKind::Query,
                        "url" => EntityKind::Url,
                        _ => EntityKind::Header,
                    }
                }
                Rule::key_option => {
                    entity.option = Some(match part.as_str().trim() {
                        "append" => EntityOption::Append,
                        "set" => EntityOption::Set,
                        "remove" => EntityOption::Remove,
                        "hash" => EntityOption::Hash,
                        _ => EntityOption::Log,
                    })
                }
                Rule::entity_strip => {
                    let number = part
                        .clone()
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::number)?;
                    let n = self.number_in(&number, 0..=i64::from(i32::MAX), "strip number")?;
                    entity.option = Some(EntityOption::Strip(n as u32));
                }
                Rule::entity_key => {
                    for piece in part.into_inner() {
                        match piece.as_rule() {
                            Rule::k_digest => entity.digest = true,
                            Rule::string if entity.digest => {
                                entity.key = Some(EntityKey::Value(self.digest(&piece)?));
                            }
                            Rule::string => entity.key = Some(EntityKey::Value(text(&piece))),
                            Rule::entity_value => entity.value = first_text(&piece),
                            _ => {}
                        }
                    }
                }
                Rule::entity_file => {
                    if *file_seen {
                        self.error(&part, "only one file per rule supported");
                        return None;
                    }
                    *file_seen = true;
                    let mut path = String::new();
                    for piece in part.clone().into_inner() {
                        match piece.as_rule() {
                            Rule::string => path = text(&piece),
                            Rule::entity_value => entity.value = first_text(&piece),
                            _ => {}
                        }
                    }
                    let keys = match read_keys_file(&path) {
                        Ok(keys) => keys,
                        Err(e) => {
                            self.error(&part, format!("failed to load rules from {path}: {e}"));
                            return None;
                        }
                    };
                    entity.key = Some(EntityKey::File { path, keys });
                }
                _ => {}
            }
        }
        let kind_name = match entity.kind {
            EntityKind::Cookie => "cookie",
            EntityKind::Header => "header",
            EntityKind::Path => "path",
            EntityKind::Query => "query",
            EntityKind::Url => "url",
        };
        // relayd.conf(5) calls cookie request-only, but relayd acts on
        // `response cookie` (Set-Cookie) and its regression tests use it.
        let request_only = matches!(
            entity.kind,
            EntityKind::Path | EntityKind::Query | EntityKind::Url
        );
        if request_only && direction == Direction::Response {
            self.error(
                &pair,
                format!("{kind_name} is only available with the direction request"),
            );
            return None;
        }
        if matches!(entity.kind, EntityKind::Query | EntityKind::Url)
            && matches!(
                entity.option,
                Some(EntityOption::Append | EntityOption::Set | EntityOption::Remove)
            )
        {
            self.error(
                &pair,
                format!("combining {kind_name} type and the given option is not supported"),
            );
            return None;
        }
        if entity.digest && entity.kind != EntityKind::Url {
            self.error(
                &pair,
                format!("digest is only supported for url, not {kind_name}"),
            );
            return None;
        }
        Some(entity)
    }
}

/// Every TLS version switched off (the defaults enable TLSv1.2 and 1.3).
fn tls_versions_enabled(tls: &TlsOptions) -> bool {
    [
        tls.sslv3.unwrap_or(false),
        tls.tlsv1_0.unwrap_or(false),
        tls.tlsv1_1.unwrap_or(false),
        tls.tlsv1_2.unwrap_or(true),
        tls.tlsv1_3.unwrap_or(true),
    ]
    .contains(&true)
}

/// Keys of a `file PATH` rule: one per line, cut at the first blank;
/// empty lines and `#` comments are skipped.
fn read_keys_file(path: &str) -> std::io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|key| !key.starts_with('#'))
        .map(str::to_string)
        .collect())
}
