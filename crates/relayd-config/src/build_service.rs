//! Building redirects (`redirect NAME { ... }`), relays (`relay NAME
//! { ... }`) and routers (`router NAME { ... }`) from their parsed blocks.

use crate::build::{first_text, mode_name, not_keyword, text, Builder};
use crate::syntax::Rule;
use crate::*;
use pest::iterators::Pair;

/// How a `forward` line starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ForwardMode {
    Forward,
    Route,
    Transparent,
}

fn forward_mode(pair: &Pair<'_, Rule>) -> ForwardMode {
    match pair.clone().into_inner().next().map(|p| p.as_rule()) {
        Some(Rule::k_route) => ForwardMode::Route,
        Some(Rule::transparent_forward) => ForwardMode::Transparent,
        _ => ForwardMode::Forward,
    }
}

/// The option pairs of a block (`redirect_opt`, `relay_opt`, ...), each
/// unwrapped to the option itself.
fn block_options<'p>(pair: Pair<'p, Rule>, option_rule: Rule) -> Vec<Pair<'p, Rule>> {
    pair.into_inner()
        .filter(|p| p.as_rule() == option_rule)
        .filter_map(|p| p.into_inner().next())
        .collect()
}

/// The name after the block keyword.
fn block_name<'p>(pair: &Pair<'p, Rule>) -> Option<Pair<'p, Rule>> {
    pair.clone()
        .into_inner()
        .find(|p| p.as_rule() == Rule::string)
}

impl Builder<'_> {
    fn session_timeout(&mut self, pair: &Pair<'_, Rule>) -> Option<u32> {
        let number = pair
            .clone()
            .into_inner()
            .find(|p| p.as_rule() == Rule::number)?;
        self.number_in(&number, 0..=i64::from(i32::MAX), "session timeout")
            .map(|n| n as u32)
    }

    fn check_name_length(&mut self, pair: &Pair<'_, Rule>, kind: &str, name: &str) {
        if name.len() >= 64 {
            self.error(
                pair,
                format!("{kind} name {name} too long (at most 63 characters)"),
            );
        }
    }

    // -----------------------------------------------------------------------
    // Redirections
    // -----------------------------------------------------------------------

    pub(crate) fn redirect(&mut self, pair: Pair<'_, Rule>) {
        let Some(name_pair) = block_name(&pair) else {
            return;
        };
        let name = text(&name_pair);
        self.check_name_length(&name_pair, "redirection", &name);
        if self.config.redirects.iter().any(|r| r.name == name) {
            self.error(&name_pair, format!("redirection {name} defined twice"));
            return;
        }
        let mut redirect = Redirect {
            id: self.config.redirects.len() as ObjectId + 1,
            name: name.clone(),
            disabled: false,
            listen: Vec::new(),
            forward: Vec::new(),
            route_to: false,
            pftag: None,
            pftag_match: false,
            sticky_address: false,
            session_timeout_secs: DEFAULT_SESSION_TIMEOUT_SECS,
            origin: self.origin(&pair),
        };
        let options = block_options(pair, Rule::redirect_opt);
        // relayd takes the table port from the first `listen on`; we find
        // it wherever it is written in the block.
        let mut table_port = None;
        for option in options
            .iter()
            .filter(|o| o.as_rule() == Rule::redirect_listen)
        {
            if let Some(port) = option
                .clone()
                .into_inner()
                .find(|p| p.as_rule() == Rule::port_spec)
            {
                table_port = self.port_spec(port, true).map(|r| r.lo);
                break;
            }
        }
        let mut modes: Vec<ForwardMode> = Vec::new();
        let errors_before = self.problems();
        for option in options {
            match option.as_rule() {
                Rule::k_disable => redirect.disabled = true,
                Rule::k_sticky_address => redirect.sticky_address = true,
                Rule::redirect_pftag => {
                    redirect.pftag_match = option
                        .clone()
                        .into_inner()
                        .any(|p| p.as_rule() == Rule::k_match);
                    redirect.pftag = first_text(&option);
                    if redirect.pftag.as_ref().is_some_and(|t| t.len() >= 64) {
                        self.error(
                            &option,
                            "redirection tag name truncated (at most 63 characters)",
                        );
                    }
                }
                Rule::session_timeout => {
                    if let Some(t) = self.session_timeout(&option) {
                        redirect.session_timeout_secs = t;
                    }
                }
                Rule::redirect_listen => self.redirect_listen(option, &mut redirect),
                Rule::redirect_forward => {
                    if let Some((mode, forward)) = self.redirect_forward(option, &name, table_port)
                    {
                        if redirect.forward.len() >= 2 {
                            self.error_at(forward.1, "only one backup table is allowed");
                            continue;
                        }
                        modes.push(mode);
                        redirect.forward.push(forward.0);
                    }
                }
                _ => {}
            }
        }
        let origin_loc = self.src.loc_at(self.base);
        // A listen or forward already in error would only repeat itself.
        let clean = self.problems() == errors_before;
        if clean && redirect.forward.is_empty() {
            self.error_at(origin_loc, format!("redirection {name} has no table"));
        }
        if clean && redirect.listen.is_empty() {
            self.error_at(origin_loc, format!("redirection {name} has no virtual ip"));
        }
        redirect.route_to = modes.first() == Some(&ForwardMode::Route);
        if modes.len() == 2 && modes[0] != modes[1] {
            self.error_at(
                origin_loc,
                format!("redirection {name} mixes 'forward to' and 'route to' for its tables"),
            );
        }
        if let [main, backup] = &redirect.forward[..] {
            if main.mode != backup.mode {
                self.error_at(
                    origin_loc,
                    format!("backup table for {name} with different mode"),
                );
            }
            let port = |t: &str| self.config.table(t).and_then(|t| t.port);
            if port(&main.table) != port(&backup.table) {
                self.error_at(
                    origin_loc,
                    format!(
                        "redirection {name} uses two different ports for its table and \
                         backup table"
                    ),
                );
            }
        }
        self.config.redirects.push(redirect);
    }

    fn redirect_listen(&mut self, pair: Pair<'_, Rule>, redirect: &mut Redirect) {
        let origin = self.origin(&pair);
        let mut address = None;
        let mut proto = IpProto::Tcp;
        let mut port = None;
        let mut interface = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::string => address = Some(part),
                Rule::ip_proto => {
                    let word = part.as_str().trim().to_string();
                    proto = match word.as_str() {
                        "tcp" => IpProto::Tcp,
                        "udp" => IpProto::Udp,
                        _ => {
                            self.error(
                                &part,
                                format!("invalid protocol: {word} (expected tcp or udp)"),
                            );
                            return;
                        }
                    }
                }
                Rule::port_spec => port = self.port_spec(part, true),
                Rule::interface => interface = first_text(&part),
                _ => {}
            }
        }
        let (Some(address), Some(port)) = (address, port) else {
            return;
        };
        let host = text(&address);
        match self.resolve.addresses(&host, 16) {
            Ok(addrs) => {
                for addr in addrs {
                    redirect.listen.push(RedirectListen {
                        addr,
                        proto,
                        port,
                        interface: interface.clone(),
                        origin: origin.clone(),
                    });
                }
            }
            Err(message) => self.error(&address, format!("invalid virtual ip: {host}: {message}")),
        }
    }

    fn redirect_forward(
        &mut self,
        pair: Pair<'_, Rule>,
        name: &str,
        table_port: Option<u16>,
    ) -> Option<(ForwardMode, (TableForward, source::Loc))> {
        let loc = self.loc(&pair);
        let mut parts = pair.into_inner();
        let mode = forward_mode(&parts.next()?);
        let table_ref = parts.find(|p| p.as_rule() == Rule::table_ref)?;
        let mut options = Vec::new();
        let mut interface = None;
        for part in parts {
            match part.as_rule() {
                Rule::table_opt => options.push(part),
                Rule::interface => interface = first_text(&part),
                _ => {}
            }
        }
        let spec = self.table_spec(table_ref, options.into_iter());
        match (mode, &interface) {
            (ForwardMode::Transparent, _) => {
                self.error_at(
                    loc,
                    "no transparent forward here (only relays can forward transparently)",
                );
                return None;
            }
            (ForwardMode::Forward, Some(_)) => {
                self.error_at(
                    loc,
                    "superfluous interface: only 'route to' takes an interface",
                );
                return None;
            }
            (ForwardMode::Route, None) => {
                self.error_at(loc, "missing interface to route to");
                return None;
            }
            _ => {}
        }
        if let Some(mode) = spec.mode {
            if matches!(mode, Mode::LoadBalance | Mode::Hash) {
                self.error_at(
                    loc,
                    format!("mode {} not supported for redirections", mode_name(mode)),
                );
            }
        }
        if spec.check.is_none() {
            self.error_at(
                loc,
                format!("table <{}> has no check (redirection {name})", spec.name),
            );
            return None;
        }
        let mut forward = self.use_table(&spec, table_port)?;
        forward.interface = interface;
        Some((mode, (forward, loc)))
    }

    // -----------------------------------------------------------------------
    // Relays
    // -----------------------------------------------------------------------

    pub(crate) fn relay(&mut self, pair: Pair<'_, Rule>) {
        let Some(name_pair) = block_name(&pair) else {
            return;
        };
        let name = text(&name_pair);
        self.check_name_length(&name_pair, "relay", &name);
        if self.config.relays.iter().any(|r| r.name == name) {
            self.error(
                &name_pair,
                format!("relay {name} or listener defined twice"),
            );
            return;
        }
        let mut relay = Relay {
            id: self.config.relays.len() as ObjectId + 1,
            name: name.clone(),
            disabled: false,
            listen: Vec::new(),
            protocol: None,
            forward: Vec::new(),
            session_timeout_secs: DEFAULT_SESSION_TIMEOUT_SECS,
            origin: self.origin(&pair),
        };
        let options = block_options(pair, Rule::relay_opt);
        let first_listen_port = options
            .iter()
            .filter(|o| o.as_rule() == Rule::relay_listen)
            .find_map(|o| {
                o.clone()
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::port_spec)
            })
            .and_then(|p| self.port_spec(p, false))
            .map(|r| r.lo);
        let mut table_port = None;
        let errors_before = self.problems();
        for option in options {
            match option.as_rule() {
                Rule::k_disable => relay.disabled = true,
                Rule::session_timeout => {
                    if let Some(t) = self.session_timeout(&option) {
                        relay.session_timeout_secs = t;
                    }
                }
                Rule::relay_protocol => {
                    let protocol = first_text(&option).unwrap_or_default();
                    if relay.protocol.is_some() {
                        self.error(&option, "more than one protocol specified");
                    } else if self.broken_names.contains(&protocol) {
                        // Its definition has a syntax error, reported already.
                        self.quiet_failures += 1;
                    } else if self.config.protocol(&protocol).is_none() {
                        self.error(
                            &option,
                            format!(
                                "no such protocol: {protocol} (protocols must be defined \
                                 before the relays that use them)"
                            ),
                        );
                    } else {
                        relay.protocol = Some(protocol);
                    }
                }
                Rule::relay_listen => {
                    if let Some(listen) = self.relay_listen(option) {
                        table_port = Some(listen.port);
                        relay.listen.push(listen);
                    }
                }
                Rule::relay_forward => {
                    let port = table_port.or(first_listen_port);
                    if let Some(forward) = self.relay_forward(option, &relay, port) {
                        relay.forward.push(forward);
                    }
                }
                _ => {}
            }
        }
        let origin_loc = self.src.loc_at(self.base);
        let clean = self.problems() == errors_before;
        if clean && relay.listen.is_empty() {
            self.error_at(origin_loc, format!("relay {name} has no listener"));
        }
        if clean && relay.forward.is_empty() {
            self.error_at(
                origin_loc,
                format!("relay {name} has no target, rdr, or table"),
            );
        }
        let lookups = relay
            .forward
            .iter()
            .filter(|f| {
                matches!(
                    f.target,
                    ForwardTarget::Destination | ForwardTarget::NatLookup
                )
            })
            .count();
        if relay
            .forward
            .iter()
            .any(|f| f.target == ForwardTarget::Destination)
            && relay
                .forward
                .iter()
                .any(|f| f.target == ForwardTarget::NatLookup)
        {
            self.error_at(
                origin_loc,
                format!("relay {name} with conflicting nat lookup and peer options"),
            );
        } else if lookups > 1 {
            self.error_at(
                origin_loc,
                format!("relay {name} target or redirection already specified"),
            );
        }
        for listen in &relay.listen {
            let clash = self.config.relays.iter().any(|other| {
                other
                    .listen
                    .iter()
                    .any(|l| l.addr == listen.addr && l.port == listen.port)
            });
            if clash {
                self.error_at(
                    origin_loc,
                    format!(
                        "relay {name} or listener defined twice ({} port {} is already used)",
                        listen.addr, listen.port
                    ),
                );
                break;
            }
        }
        self.config.relays.push(relay);
    }

    fn relay_listen(&mut self, pair: Pair<'_, Rule>) -> Option<RelayListen> {
        let mut address = None;
        let mut port = None;
        let mut tls = false;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::string => address = Some(part),
                Rule::port_spec => port = self.port_spec(part, false),
                Rule::ssltls => tls = true,
                _ => {}
            }
        }
        let address = address?;
        let port = port?;
        let host = text(&address);
        match self.resolve.address(&host) {
            Ok(addr) => Some(RelayListen {
                addr,
                port: port.lo,
                tls,
            }),
            Err(message) => {
                self.error(&address, format!("invalid listen ip: {host}: {message}"));
                None
            }
        }
    }

    fn relay_forward(
        &mut self,
        pair: Pair<'_, Rule>,
        relay: &Relay,
        listen_port: Option<u16>,
    ) -> Option<RelayForward> {
        let loc = self.loc(&pair);
        let mut forward = RelayForward {
            target: ForwardTarget::Destination,
            tls: false,
            transparent: false,
            retry: 0,
            inet: false,
            inet6_prefix: None,
        };
        let mut target = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::forward_mode => match forward_mode(&part) {
                    ForwardMode::Route => {
                        self.error_at(loc, "no route for relays (use 'forward to')");
                        return None;
                    }
                    ForwardMode::Transparent => forward.transparent = true,
                    ForwardMode::Forward => {}
                },
                Rule::forward_tls => forward.tls = true,
                Rule::forward_target => target = part.into_inner().next(),
                Rule::forward_af => match part.into_inner().next() {
                    Some(af) if af.as_rule() == Rule::forward_inet => forward.inet = true,
                    Some(af) => {
                        let prefix_pair = af.clone().into_inner().find(not_keyword)?;
                        let prefix = text(&prefix_pair);
                        match resolve::parse_ip(&prefix) {
                            Some(IpAddr::V6(v6)) => forward.inet6_prefix = Some(IpAddr::V6(v6)),
                            _ => {
                                self.error(&prefix_pair, format!("invalid ipv6 address {prefix}"));
                                return None;
                            }
                        }
                    }
                    None => {}
                },
                _ => {}
            }
        }
        let target = target?;
        match target.as_rule() {
            Rule::forward_nat_lookup | Rule::forward_destination => {
                forward.target = if target.as_rule() == Rule::forward_nat_lookup {
                    ForwardTarget::NatLookup
                } else {
                    ForwardTarget::Destination
                };
                if let Some(retry) = target
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::table_retry)
                {
                    forward.retry = self.retry_of(&retry)?;
                }
            }
            Rule::forward_address => {
                if relay
                    .forward
                    .iter()
                    .any(|f| matches!(f.target, ForwardTarget::Address { .. }))
                {
                    self.error_at(
                        loc,
                        format!(
                            "relay {} target or redirection already specified",
                            relay.name
                        ),
                    );
                    return None;
                }
                let mut parts = target.into_inner();
                let address = parts.next()?;
                let mut port = None;
                for part in parts {
                    match part.as_rule() {
                        Rule::port_spec => port = self.port_spec(part, false).map(|r| r.lo),
                        Rule::table_retry => forward.retry = self.retry_of(&part)?,
                        _ => {}
                    }
                }
                let host = text(&address);
                let addr = match self.resolve.address(&host) {
                    Ok(addr) => addr,
                    Err(message) => {
                        self.error(&address, format!("invalid forward ip: {host}: {message}"));
                        return None;
                    }
                };
                let Some(port) = port.or(listen_port) else {
                    self.error(
                        &address,
                        "invalid port: add 'port N' or a 'listen on' with a port",
                    );
                    return None;
                };
                forward.target = ForwardTarget::Address { addr, port };
            }
            Rule::forward_table => {
                let mut parts = target.into_inner();
                let table_ref = parts.next()?;
                let spec = self.table_spec(table_ref, parts);
                let table = self.use_table(&spec, listen_port)?;
                forward.retry = table.retry;
                forward.target = ForwardTarget::Table(table);
            }
            _ => return None,
        }
        Some(forward)
    }

    fn retry_of(&mut self, pair: &Pair<'_, Rule>) -> Option<u32> {
        let number = pair
            .clone()
            .into_inner()
            .find(|p| p.as_rule() == Rule::number)?;
        self.number_in(&number, 0..=i64::from(i32::MAX), "retry value")
            .map(|n| n as u32)
    }

    // -----------------------------------------------------------------------
    // Routers
    // -----------------------------------------------------------------------

    pub(crate) fn router(&mut self, pair: Pair<'_, Rule>) {
        let Some(name_pair) = block_name(&pair) else {
            return;
        };
        let name = text(&name_pair);
        self.check_name_length(&name_pair, "router", &name);
        if self.config.routers.iter().any(|r| r.name == name) {
            self.error(&name_pair, format!("router {name} defined twice"));
            return;
        }
        let origin = self.origin(&pair);
        let origin_loc = self.src.loc_at(self.base);
        let mut routes: Vec<Prefix> = Vec::new();
        let mut forward: Option<TableForward> = None;
        let mut rtable = None;
        let mut rtlabel = None;
        let mut disabled = false;
        let errors_before = self.problems();
        for option in block_options(pair, Rule::router_opt) {
            match option.as_rule() {
                Rule::k_disable => disabled = true,
                Rule::router_route => {
                    let Some(prefix) =
                        self.addr_prefix(option.clone().into_inner().find(not_keyword))
                    else {
                        continue;
                    };
                    if routes
                        .first()
                        .is_some_and(|r| r.addr.is_ipv4() != prefix.addr.is_ipv4())
                    {
                        self.error(&option, format!("router {name} address family mismatch"));
                        continue;
                    }
                    routes.push(prefix);
                }
                Rule::router_forward => {
                    if forward.is_some() {
                        self.error(&option, format!("router {name} table already specified"));
                        continue;
                    }
                    let mut parts = option.into_inner().filter(not_keyword);
                    let Some(table_ref) = parts.next() else {
                        continue;
                    };
                    let spec = self.table_spec(table_ref, parts);
                    // relayd gives router tables without a port the port
                    // 65535 (its "no port" marker).
                    forward = self.use_table(&spec, Some(u16::MAX));
                }
                Rule::router_rtable => {
                    if rtable.is_some() {
                        self.error(&option, format!("router {name} rtable already specified"));
                        continue;
                    }
                    let Some(number) = option
                        .clone()
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::number)
                    else {
                        continue;
                    };
                    rtable = self
                        .number_in(&number, 0..=255, "rtable id")
                        .map(|n| n as u32);
                }
                Rule::router_rtlabel => rtlabel = first_text(&option),
                _ => {}
            }
        }
        let clean = self.problems() == errors_before;
        if clean && routes.is_empty() {
            self.error_at(origin_loc, format!("router {name} without routes"));
        }
        let Some(forward) = forward else {
            if clean {
                self.error_at(
                    origin_loc,
                    format!("router {name} has no 'forward to <table>'"),
                );
            }
            return;
        };
        self.config.routers.push(Router {
            id: self.config.routers.len() as ObjectId + 1,
            name,
            disabled,
            routes,
            forward,
            rtable,
            rtlabel,
            origin,
        });
    }

    /// An `addr_prefix` pair (`address[/len]`).
    pub(crate) fn addr_prefix(&mut self, pair: Option<Pair<'_, Rule>>) -> Option<Prefix> {
        let pair = pair?;
        let mut parts = pair.clone().into_inner();
        let address = parts.next()?;
        let len = parts
            .next()
            .map(|number| number.as_str().parse::<i64>().unwrap_or(i64::MAX));
        let host = text(&address);
        match self.resolve.prefix(&host, len) {
            Ok(prefix) => Some(prefix),
            Err(message) => {
                self.error(&pair, format!("invalid address {host}: {message}"));
                None
            }
        }
    }
}
