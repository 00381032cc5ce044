//! From parsed statements to the typed [`Config`], in file order as relayd
//! does: global options apply to what follows them, tables and protocols
//! must be defined before they are used, ids are handed out as objects
//! appear. This file holds the walk, the global options and the tables
//! (definitions and their inheritance by `forward to`); redirects, relays
//! and routers are in `build_service.rs`, protocols in `build_protocol.rs`.

use crate::resolve::Resolve;
use crate::source::{Loc, Normalized};
use crate::syntax::{keyword_text, Rule, Statement};
use crate::*;
use pest::iterators::Pair;
use std::collections::{HashMap, HashSet};

/// A `table <name> { ... }` definition, before any `forward to` uses it.
pub(crate) struct TemplateTable {
    pub name: String,
    pub disabled: bool,
    /// The global timeout when the table was defined (relayd copies it).
    pub timeout_ms: u32,
    pub hosts: Vec<HostSpec>,
    pub used: bool,
}

pub(crate) struct HostSpec {
    pub loc: Loc,
    pub name: String,
    pub addr: IpAddr,
    pub retry: u32,
    pub parent: Option<ObjectId>,
    pub priority: Option<u8>,
    pub ip_ttl: Option<u8>,
}

impl HostSpec {
    /// The host as a table holds it; ids are numbered when the table is.
    fn to_host(&self) -> Host {
        Host {
            id: 0,
            name: self.name.clone(),
            addr: self.addr,
            retry: self.retry,
            parent: self.parent,
            priority: self.priority,
            ip_ttl: self.ip_ttl,
        }
    }
}

/// The options written after `forward to <name>`.
#[derive(Default)]
pub(crate) struct TableSpec {
    pub name: String,
    pub loc: Loc,
    pub port: Option<u16>,
    pub check: Option<Check>,
    pub timeout_ms: Option<u32>,
    pub interval_secs: Option<u32>,
    pub demote: Option<String>,
    pub mode: Option<Mode>,
    pub key: Option<String>,
    pub retry: Option<u32>,
}

pub(crate) struct Builder<'a> {
    pub src: &'a Normalized,
    pub resolve: Resolve<'a>,
    pub errors: Vec<ConfigError>,
    pub config: Config,
    pub templates: Vec<TemplateTable>,
    /// Tables whose interval follows the global one (set at the end).
    pub default_interval: HashSet<String>,
    /// Names of tables and protocols whose definition did not parse.
    pub broken_names: Vec<String>,
    /// Uses of those names: failures already explained by a syntax error.
    pub quiet_failures: usize,
    /// Offset of the current statement in `src.text`.
    pub base: usize,
    pub next_host_id: ObjectId,
    /// A `tag` / `label` was set by some earlier rule (`no tag` needs one).
    pub seen_tag: bool,
    pub seen_label: bool,
    pub locations: Locations,
}

/// Where things were written, for the checks of the whole configuration.
#[derive(Default)]
pub(crate) struct Locations {
    pub interval: Option<Loc>,
    pub timeout: Option<Loc>,
    /// First `forward to` of each used table, by table name.
    pub tables: HashMap<String, Loc>,
    /// Each host of a used table, by host id.
    pub hosts: HashMap<ObjectId, Loc>,
}

/// Builds the configuration from its statements; validation of the whole
/// (see `validate.rs`) comes after.
pub(crate) fn build<'a>(
    src: &'a Normalized,
    statements: Vec<Statement<'a>>,
    broken_names: Vec<String>,
    resolver: Option<&'a Resolver>,
) -> (Config, Vec<ConfigError>, Locations) {
    let mut builder = Builder {
        src,
        resolve: Resolve::new(resolver),
        errors: Vec::new(),
        config: Config::default(),
        templates: Vec::new(),
        default_interval: HashSet::new(),
        broken_names,
        quiet_failures: 0,
        base: 0,
        next_host_id: 1,
        seen_tag: false,
        seen_label: false,
        locations: Locations::default(),
    };
    for statement in statements {
        builder.base = statement.base;
        for pair in statement.pair.into_inner() {
            builder.statement(pair);
        }
    }
    builder.finish();
    (builder.config, builder.errors, builder.locations)
}

impl<'a> Builder<'a> {
    fn statement(&mut self, pair: Pair<'_, Rule>) {
        match pair.as_rule() {
            Rule::global_opt => {
                for opt in pair.into_inner() {
                    self.global_option(opt);
                }
            }
            Rule::table_def => self.table_definition(pair),
            Rule::redirect => self.redirect(pair),
            Rule::relay => self.relay(pair),
            Rule::protocol => self.protocol(pair),
            Rule::router => self.router(pair),
            _ => {}
        }
    }

    // -----------------------------------------------------------------------
    // Helpers shared by all statements
    // -----------------------------------------------------------------------

    /// Errors so far, counting failures a syntax error explains already.
    pub fn problems(&self) -> usize {
        self.errors.len() + self.quiet_failures
    }

    pub fn loc(&self, pair: &Pair<'_, Rule>) -> Loc {
        self.src.loc_at(self.base + pair.as_span().start())
    }

    pub fn origin(&self, pair: &Pair<'_, Rule>) -> Origin {
        let loc = self.loc(pair);
        Origin {
            file: self.src.files.get(loc.file).cloned().unwrap_or_default(),
            line: loc.line,
        }
    }

    pub fn error_at(&mut self, loc: Loc, message: impl Into<String>) {
        let error = self.src.error_at(loc, message);
        self.errors.push(error);
    }

    pub fn error(&mut self, pair: &Pair<'_, Rule>, message: impl Into<String>) {
        let loc = self.loc(pair);
        self.error_at(loc, message);
    }

    /// A `number` pair as an integer in `range`, or an error naming `what`.
    pub fn number_in(
        &mut self,
        pair: &Pair<'_, Rule>,
        range: std::ops::RangeInclusive<i64>,
        what: &str,
    ) -> Option<i64> {
        match pair.as_str().parse::<i64>() {
            Ok(n) if range.contains(&n) => Some(n),
            Ok(n) => {
                self.error(
                    pair,
                    format!(
                        "invalid {what}: {n} (must be between {} and {})",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
            Err(_) => {
                self.error(
                    pair,
                    format!("invalid {what}: {} is too large", pair.as_str()),
                );
                None
            }
        }
    }

    /// The port of a `port_spec` pair (`port N|name[:N|name]`).
    pub fn port_spec(&mut self, pair: Pair<'_, Rule>, allow_range: bool) -> Option<PortRange> {
        let value = pair.into_inner().find(|p| p.as_rule() != Rule::k_port)?;
        let word = match value.as_rule() {
            Rule::k_http => "http".to_string(),
            _ => text(&value),
        };
        match self.resolve.port(&word, allow_range) {
            Ok(range) => Some(range),
            Err(message) => {
                self.error(&value, message);
                None
            }
        }
    }

    // -----------------------------------------------------------------------
    // Global configuration
    // -----------------------------------------------------------------------

    fn global_option(&mut self, pair: Pair<'_, Rule>) {
        let rule = pair.as_rule();
        let args: Vec<Pair<'_, Rule>> = pair.clone().into_inner().filter(not_keyword).collect();
        match rule {
            Rule::interval_opt => {
                self.locations.interval = Some(self.loc(&pair));
                if let Some(n) = self.number_in(&args[0], 1..=i64::from(i32::MAX), "interval") {
                    self.config.global.interval_secs = n as u32;
                }
            }
            Rule::timeout_opt => {
                self.locations.timeout = Some(self.loc(&pair));
                if let Some(n) = self.number_in(&args[0], 0..=i64::from(i32::MAX), "timeout") {
                    self.config.global.timeout_ms = n as u32;
                }
            }
            Rule::prefork_opt => {
                if let Some(n) = self.number_in(&args[0], 1..=32, "number of preforked relays") {
                    self.config.global.prefork = n as u32;
                }
            }
            Rule::socket_opt => self.config.global.socket = text(&args[0]),
            Rule::demote_opt => self.config.global.demote = Some(text(&args[0])),
            Rule::metrics_opt => self.metrics_listen(pair),
            Rule::log_opt => {
                for level in args {
                    let log = &mut self.config.global.log;
                    match level.as_rule() {
                        Rule::log_state_changes => log.state_changes = true,
                        Rule::log_host_checks => log.host_checks = true,
                        Rule::log_connection => {
                            let errors_only =
                                level.into_inner().any(|p| p.as_rule() == Rule::k_errors);
                            if !errors_only {
                                log.connection = Some(ConnectionLog::All);
                            } else if log.connection.is_none() {
                                log.connection = Some(ConnectionLog::ErrorsOnly);
                            }
                        }
                        Rule::log_legacy => {
                            log.state_changes = true;
                            if level.as_str() == "all" {
                                log.host_checks = true;
                            }
                        }
                        _ => {}
                    }
                }
            }
            Rule::snmp_opt => {
                let trap = pair
                    .clone()
                    .into_inner()
                    .any(|p| p.as_rule() == Rule::k_trap);
                let path = args.first().map(text);
                self.config.global.snmp = Some(Snmp { trap, path });
            }
            Rule::agentx_opt => {
                let mut agentx = AgentX::default();
                for arg in args {
                    let value = arg.clone().into_inner().find(not_keyword).map(|p| text(&p));
                    match arg.as_rule() {
                        Rule::agentx_context => agentx.context = value,
                        Rule::agentx_path => agentx.path = value,
                        _ => {}
                    }
                }
                self.config.global.agentx = Some(agentx);
            }
            _ => {}
        }
    }

    /// `metrics listen on ADDR port P`: one address, one port.
    fn metrics_listen(&mut self, pair: Pair<'_, Rule>) {
        let mut address = None;
        let mut port = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::string => address = Some(part),
                Rule::port_spec => port = self.port_spec(part, false),
                _ => {}
            }
        }
        let (Some(address), Some(port)) = (address, port) else {
            return;
        };
        let host = text(&address);
        match self.resolve.address(&host) {
            Ok(addr) => {
                self.config.global.metrics = Some(MetricsListen {
                    addr,
                    port: port.lo,
                })
            }
            Err(message) => {
                self.error(
                    &address,
                    format!("invalid metrics listen ip: {host}: {message}"),
                );
            }
        }
    }

    // -----------------------------------------------------------------------
    // Tables
    // -----------------------------------------------------------------------

    fn table_definition(&mut self, pair: Pair<'_, Rule>) {
        let mut inner = pair.clone().into_inner().filter(not_keyword);
        let Some(name_pair) = inner.next() else {
            return;
        };
        let name = table_name(&name_pair);
        if name.len() >= 64 {
            self.error(
                &name_pair,
                format!("invalid table name <{name}>: longer than 63 characters"),
            );
        }
        if self.templates.iter().any(|t| t.name == name) {
            self.error(&name_pair, format!("table <{name}> defined twice"));
            return;
        }
        let mut table = TemplateTable {
            name: name.clone(),
            disabled: false,
            timeout_ms: self.config.global.timeout_ms,
            hosts: Vec::new(),
            used: false,
        };
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::k_disable => table.disabled = true,
                Rule::host_list => {
                    for host in part.into_inner() {
                        if let Some(spec) = self.host(host) {
                            table.hosts.push(spec);
                        }
                    }
                }
                _ => {}
            }
        }
        if table.hosts.is_empty() {
            self.error(&name_pair, format!("table <{name}> has no hosts"));
        }
        self.templates.push(table);
    }

    fn host(&mut self, pair: Pair<'_, Rule>) -> Option<HostSpec> {
        let mut inner = pair.into_inner();
        let addr_pair = inner.next()?;
        let name = text(&addr_pair);
        let addr = match self.resolve.address(&name) {
            Ok(addr) => addr,
            Err(message) => {
                self.error(&addr_pair, format!("invalid host {name}: {message}"));
                return None;
            }
        };
        let mut host = HostSpec {
            loc: self.loc(&addr_pair),
            name,
            addr,
            retry: 0,
            parent: None,
            priority: None,
            ip_ttl: None,
        };
        let mut seen = HashSet::new();
        for opt in inner {
            let Some(option) = opt.clone().into_inner().next() else {
                continue;
            };
            let Some(value) = option
                .clone()
                .into_inner()
                .find(|p| p.as_rule() == Rule::number)
            else {
                continue;
            };
            if !seen.insert(option.as_rule()) {
                self.error(
                    &option,
                    format!(
                        "{} already set for host {}",
                        describe_host_opt(option.as_rule()),
                        host.name
                    ),
                );
                continue;
            }
            match option.as_rule() {
                Rule::host_retry => {
                    if let Some(n) = self.number_in(&value, 0..=i64::from(i32::MAX), "retry value")
                    {
                        host.retry = n as u32;
                    }
                }
                Rule::host_parent => {
                    if let Some(n) = self.number_in(&value, 0..=i64::from(i32::MAX), "parent value")
                    {
                        host.parent = (n > 0).then_some(n as u32);
                    }
                }
                Rule::host_priority => {
                    if let Some(n) = self.number_in(&value, 0..=63, "priority value") {
                        host.priority = Some(n as u8);
                    }
                }
                Rule::host_ip_ttl => {
                    if let Some(n) = self.number_in(&value, 0..=255, "ttl value") {
                        host.ip_ttl = Some(n as u8);
                    }
                }
                _ => {}
            }
        }
        Some(host)
    }

    /// Reads `table_ref table_opt*` (the pairs after `forward to`).
    pub fn table_spec<'p>(
        &mut self,
        table_ref: Pair<'p, Rule>,
        options: impl Iterator<Item = Pair<'p, Rule>>,
    ) -> TableSpec {
        let mut spec = TableSpec {
            name: table_name(&table_ref),
            loc: self.loc(&table_ref),
            ..TableSpec::default()
        };
        for opt in options {
            let Some(option) = opt.into_inner().next() else {
                continue;
            };
            let args: Vec<Pair<'_, Rule>> =
                option.clone().into_inner().filter(not_keyword).collect();
            match option.as_rule() {
                Rule::check => {
                    if spec.check.is_some() {
                        self.error(
                            &option,
                            format!("table <{}> has more than one check", spec.name),
                        );
                    }
                    spec.check = args.into_iter().next().and_then(|c| self.check(c));
                }
                Rule::port_spec => {
                    spec.port = self.port_spec(option, false).map(|r| r.lo);
                }
                Rule::table_timeout => {
                    spec.timeout_ms = self
                        .number_in(&args[0], 0..=i64::from(i32::MAX), "timeout")
                        .map(|n| n as u32);
                }
                Rule::table_interval => {
                    let global = i64::from(self.config.global.interval_secs);
                    if let Some(n) = self.number_in(&args[0], 1..=i64::from(i32::MAX), "interval") {
                        if n < global || n % global != 0 {
                            self.error(
                                &args[0],
                                format!(
                                    "table interval must be divisible by global interval \
                                     ({n} is not a multiple of {global})"
                                ),
                            );
                        }
                        spec.interval_secs = Some(n as u32);
                    }
                }
                Rule::table_demote => {
                    let group = text(&args[0]);
                    if group.len() >= 16 {
                        self.error(&args[0], format!("demote group name too long: {group}"));
                    }
                    spec.demote = Some(group);
                }
                Rule::table_retry => {
                    spec.retry = self
                        .number_in(&args[0], 0..=i64::from(i32::MAX), "retry value")
                        .map(|n| n as u32);
                }
                Rule::table_mode => self.table_mode(option, &mut spec),
                _ => {}
            }
        }
        spec
    }

    fn table_mode(&mut self, pair: Pair<'_, Rule>, spec: &mut TableSpec) {
        let mut mode = Mode::RoundRobin;
        let mut key_pair = None;
        for part in pair.clone().into_inner() {
            match part.as_rule() {
                Rule::dst_mode => {
                    mode = match part.into_inner().next().map(|p| p.as_rule()) {
                        Some(Rule::k_loadbalance) => Mode::LoadBalance,
                        Some(Rule::k_hash) => Mode::Hash,
                        Some(Rule::k_source_hash) => Mode::SourceHash,
                        Some(Rule::k_random) => Mode::Random,
                        Some(Rule::k_least_states) => Mode::LeastStates,
                        _ => Mode::RoundRobin,
                    }
                }
                Rule::hash_key => key_pair = Some(part),
                _ => {}
            }
        }
        if let Some(key_pair) = key_pair {
            let key = text(&key_pair);
            if !matches!(mode, Mode::LoadBalance | Mode::Hash | Mode::SourceHash) {
                self.error(
                    &key_pair,
                    format!("key not supported by mode {}", mode_name(mode)),
                );
            } else if let Some(hex) = key.strip_prefix("0x") {
                if hex.len() != 32 {
                    self.error(&key_pair, "hex key must be 128 bits (32 hex digits) long");
                } else if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    self.error(&key_pair, format!("invalid hex key {key}"));
                }
            }
            spec.key = Some(key);
        }
        if spec.mode.is_some() {
            self.error(
                &pair,
                format!("table <{}> has more than one mode", spec.name),
            );
        }
        spec.mode = Some(mode);
    }

    fn check(&mut self, pair: Pair<'_, Rule>) -> Option<Check> {
        let rule = pair.as_rule();
        let args: Vec<Pair<'_, Rule>> = pair.clone().into_inner().filter(not_keyword).collect();
        let has_tls = |p: &Pair<'_, Rule>| p.as_rule() == Rule::ssltls;
        match rule {
            Rule::check_icmp => Some(Check::Icmp),
            Rule::check_tcp => Some(Check::Tcp),
            Rule::check_tls => Some(Check::Tls),
            Rule::check_script => Some(Check::Script {
                path: text(&args[0]),
            }),
            Rule::check_http => {
                let mut tls = false;
                let mut path = String::new();
                let mut host = None;
                let mut expect = None;
                for part in args {
                    match part.as_rule() {
                        Rule::http_scheme => tls = part.as_str().trim() == "https",
                        Rule::string => path = text(&part),
                        Rule::check_http_host => host = first_text(&part),
                        Rule::check_http_code => {
                            let number = part
                                .clone()
                                .into_inner()
                                .find(|p| p.as_rule() == Rule::number)?;
                            let code = self.number_in(&number, 1..=999, "HTTP code")?;
                            expect = Some(HttpExpect::Code(code as u16));
                        }
                        Rule::check_http_digest => {
                            let digest_pair = part.clone().into_inner().find(not_keyword)?;
                            let digest = self.digest(&digest_pair)?;
                            expect = Some(HttpExpect::Digest(digest));
                        }
                        _ => {}
                    }
                }
                Some(Check::Http {
                    tls,
                    path,
                    host,
                    expect: expect?,
                })
            }
            Rule::check_send => {
                let tls = args.iter().any(has_tls);
                let send = send_text(&args[0]);
                let expect = text(&args[1]);
                Some(Check::Send { send, expect, tls })
            }
            Rule::check_binary => {
                let tls = args.iter().any(has_tls);
                let send = if is_nothing(&args[0]) {
                    Vec::new()
                } else {
                    self.hex_data(&args[0], "binary send data")?
                };
                let expect = self.hex_data(&args[1], "binary expect data")?;
                Some(Check::Binary { send, expect, tls })
            }
            _ => None,
        }
    }

    /// A message digest: 32 (MD5) or 40 (SHA-1) hex digits, lower-cased.
    pub fn digest(&mut self, pair: &Pair<'_, Rule>) -> Option<String> {
        let digest = text(pair);
        if !matches!(digest.len(), 32 | 40) || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
            self.error(
                pair,
                format!("invalid http digest {digest}: expected 32 (MD5) or 40 (SHA1) hex digits"),
            );
            return None;
        }
        Some(digest.to_ascii_lowercase())
    }

    fn hex_data(&mut self, pair: &Pair<'_, Rule>, what: &str) -> Option<Vec<u8>> {
        let hex = text(pair);
        if hex.is_empty() {
            self.error(pair, format!("empty {what}"));
            return None;
        }
        if !hex.len().is_multiple_of(2) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            self.error(
                pair,
                format!("invalid {what} \"{hex}\": expected an even number of hex digits"),
            );
            return None;
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
            .collect()
    }

    /// The table a `forward to <name>` uses: the inherited copy of the
    /// definition for this port and check, created on first use.
    pub fn use_table(
        &mut self,
        spec: &TableSpec,
        default_port: Option<u16>,
    ) -> Option<TableForward> {
        let Some(template) = self.templates.iter_mut().find(|t| t.name == spec.name) else {
            if self.broken_names.contains(&spec.name) {
                self.quiet_failures += 1;
                return None;
            }
            self.error_at(
                spec.loc,
                format!(
                    "unknown table <{}> (tables must be defined before they are used)",
                    spec.name
                ),
            );
            return None;
        };
        let Some(port) = spec.port.or(default_port) else {
            self.error_at(
                spec.loc,
                format!(
                    "invalid port for table <{}>: add 'port N' or a 'listen on' with a port",
                    spec.name
                ),
            );
            return None;
        };
        template.used = true;
        let name = format!("{}:{}", spec.name, port);
        let timeout_ms = spec
            .timeout_ms
            .filter(|t| *t > 0)
            .unwrap_or(template.timeout_ms);
        let check = spec.check.clone().unwrap_or_default();
        let disabled = template.disabled;
        let forward = TableForward {
            table: name.clone(),
            mode: spec.mode.unwrap_or_default(),
            key: spec.key.clone(),
            retry: spec.retry.unwrap_or(0),
            interface: None,
        };
        if let Some(existing) = self.config.tables.iter().find(|t| t.name == name) {
            let same = existing.check == check
                && existing.timeout_ms == timeout_ms
                && existing.interval_secs == spec.interval_secs.unwrap_or(0)
                && existing.demote == spec.demote;
            if !same {
                self.error_at(
                    spec.loc,
                    format!(
                        "table <{}> is already used on port {port} with other check \
                         options; use the same options or another port",
                        spec.name
                    ),
                );
                return None;
            }
            return Some(forward);
        }
        for (offset, host) in template.hosts.iter().enumerate() {
            let id = self.next_host_id + offset as ObjectId;
            self.locations.hosts.insert(id, host.loc);
        }
        self.locations.tables.insert(name.clone(), spec.loc);
        let hosts = template.hosts.iter().map(HostSpec::to_host).collect();
        let table = Table {
            id: self.config.tables.len() as ObjectId + 1,
            name: name.clone(),
            template: spec.name.clone(),
            port: Some(port),
            disabled,
            check,
            interval_secs: spec.interval_secs.unwrap_or(0),
            timeout_ms,
            demote: spec.demote.clone(),
            hosts,
        };
        self.add_table(table);
        if spec.interval_secs.is_none() {
            self.default_interval.insert(name);
        }
        Some(forward)
    }

    fn add_table(&mut self, mut table: Table) {
        for host in &mut table.hosts {
            host.id = self.next_host_id;
            self.next_host_id += 1;
        }
        self.config.tables.push(table);
    }

    /// End of input: unused table definitions are kept for `show summary`,
    /// intervals left to the global default get its final value.
    fn finish(&mut self) {
        let interval = self.config.global.interval_secs;
        for table in &mut self.config.tables {
            if self.default_interval.contains(&table.name) {
                table.interval_secs = interval;
            }
        }
        let unused: Vec<Table> = self
            .templates
            .iter()
            .filter(|t| !t.used)
            .map(|t| Table {
                id: 0,
                name: t.name.clone(),
                template: t.name.clone(),
                port: None,
                disabled: t.disabled,
                check: Check::None,
                // Never checked: the global values, so a table defined
                // before `timeout` reads the same as one defined after.
                interval_secs: interval,
                timeout_ms: self.config.global.timeout_ms,
                demote: None,
                hosts: t.hosts.iter().map(HostSpec::to_host).collect(),
            })
            .collect();
        for mut table in unused {
            table.id = self.config.tables.len() as ObjectId + 1;
            self.add_table(table);
        }
    }
}

// ---------------------------------------------------------------------------
// Pair helpers
// ---------------------------------------------------------------------------

pub(crate) fn not_keyword(pair: &Pair<'_, Rule>) -> bool {
    keyword_text(pair.as_rule()).is_none()
}

/// The text of a string-like pair: quoted strings unescaped, bare words
/// as written.
pub(crate) fn text(pair: &Pair<'_, Rule>) -> String {
    match pair.as_rule() {
        Rule::quoted_inner => unescape(pair.as_str()),
        Rule::bare | Rule::number => pair.as_str().to_string(),
        _ => match pair.clone().into_inner().next() {
            Some(inner) => text(&inner),
            None => pair.as_str().trim().to_string(),
        },
    }
}

/// The text of the first non-keyword child (`host NAME`, `style CSS`, ...).
pub(crate) fn first_text(pair: &Pair<'_, Rule>) -> Option<String> {
    pair.clone()
        .into_inner()
        .find(not_keyword)
        .map(|p| text(&p))
}

fn unescape(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The name inside `<...>`.
pub(crate) fn table_name(pair: &Pair<'_, Rule>) -> String {
    match pair.as_rule() {
        Rule::table_ref => pair
            .clone()
            .into_inner()
            .next()
            .map(|p| text(&p))
            .unwrap_or_default(),
        _ => text(pair),
    }
}

fn is_nothing(send_data: &Pair<'_, Rule>) -> bool {
    send_data
        .clone()
        .into_inner()
        .next()
        .is_some_and(|p| p.as_rule() == Rule::k_nothing)
}

fn send_text(send_data: &Pair<'_, Rule>) -> String {
    if is_nothing(send_data) {
        String::new()
    } else {
        text(send_data)
    }
}

fn describe_host_opt(rule: Rule) -> &'static str {
    match rule {
        Rule::host_retry => "retry value",
        Rule::host_parent => "parent value",
        Rule::host_priority => "priority",
        _ => "ttl value",
    }
}

pub(crate) fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::RoundRobin => "roundrobin",
        Mode::LoadBalance => "loadbalance",
        Mode::Hash => "hash",
        Mode::SourceHash => "source-hash",
        Mode::Random => "random",
        Mode::LeastStates => "least-states",
    }
}
