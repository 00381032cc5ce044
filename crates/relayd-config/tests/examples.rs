//! The examples of relayd.conf(5) (2019 and 2022 pages), OpenBSD's example
//! relayd.conf and `everything.conf` load, and give the model they should.

mod common;

use common::load;
use relayd_config::*;
use std::net::IpAddr;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn man_tables_example() {
    let config = load("man-tables.conf");
    let redirect = &config.redirects[0];
    assert_eq!(redirect.name, "www");
    assert_eq!(redirect.id, 1);
    // www.example.com has an IPv4 and an IPv6 address: two listeners.
    assert_eq!(redirect.listen.len(), 2);
    assert_eq!(redirect.listen[0].port, PortRange { lo: 80, hi: 80 });
    assert_eq!(redirect.forward[0].table, "service:80");
    assert_eq!(redirect.forward[1].table, "fallback:80");
    let fallback = config.table("fallback:80").unwrap();
    assert!(fallback.disabled);
    assert_eq!(fallback.hosts[0].retry, 2);
    assert_eq!(fallback.id, 2);
    // Host ids run over the tables in order of use.
    assert_eq!(fallback.hosts[0].id, 4);
    assert!(matches!(
        &config.table("service:80").unwrap().check,
        Check::Http { tls: false, path, host: None, expect: HttpExpect::Code(200) } if path == "/"
    ));
}

#[test]
fn man_sorry_page_example() {
    let config = load("man-sorry-page.conf");
    assert_eq!(config.global.interval_secs, 5);
    let php = config.table("phphosts:8080").unwrap();
    assert_eq!(php.hosts.len(), 4);
    assert_eq!(php.hosts[3].name, "front-www4.private.example.com");
    assert_eq!(php.hosts[3].addr, ip("10.0.0.14"));
    assert_eq!(php.timeout_ms, 300);
    assert_eq!(php.interval_secs, 5);
    let redirect = &config.redirects[0];
    assert_eq!(redirect.pftag.as_deref(), Some("REDIRECTED"));
    assert!(!redirect.pftag_match);
    assert_eq!(redirect.listen.len(), 3);
    assert!(redirect
        .listen
        .iter()
        .all(|l| l.interface.as_deref() == Some("trunk0")));
    assert_eq!(redirect.listen[2].addr, ip("2001:db8::80"));
    assert!(config.table("sorryhost:8080").unwrap().disabled);
}

#[test]
fn man_dns_example() {
    let config = load("man-dns.conf");
    let listen = &config.redirects[0].listen;
    assert_eq!(listen[0].proto, IpProto::Tcp);
    assert_eq!(listen[1].proto, IpProto::Udp);
    assert_eq!(config.table("dnshosts:53").unwrap().check, Check::Tcp);
}

#[test]
fn man_tls_acceleration_example() {
    let config = load("man-tls-accel.conf");
    let protocol = config.protocol("https").unwrap();
    assert_eq!(protocol.kind, ProtocolKind::Http);
    assert_eq!(protocol.tls.tlsv1_0, Some(false));
    assert_eq!(protocol.tls.ciphers.as_deref(), Some("HIGH"));
    assert_eq!(protocol.rules.len(), 6);
    let forwarded_for = &protocol.rules[0];
    assert_eq!(forwarded_for.action, RuleAction::Match);
    assert_eq!(forwarded_for.entities[0].kind, EntityKind::Header);
    assert_eq!(forwarded_for.entities[0].option, Some(EntityOption::Set));
    assert_eq!(
        forwarded_for.entities[0].key,
        Some(EntityKey::Value("X-Forwarded-For".into()))
    );
    // `$REMOTE_ADDR` is in quotes: not a macro of the file.
    assert_eq!(
        forwarded_for.entities[0].value.as_deref(),
        Some("$REMOTE_ADDR")
    );
    assert_eq!(protocol.rules[3].entities[0].kind, EntityKind::Query);
    assert_eq!(
        protocol.rules[3].entities[0].option,
        Some(EntityOption::Hash)
    );
    assert!(protocol.rules[4].entities.is_empty());
    let relay = &config.relays[0];
    assert_eq!(relay.protocol.as_deref(), Some("https"));
    assert!(relay.listen[0].tls);
    assert_eq!(relay.listen[0].addr, ip("192.0.2.10"));
    match &relay.forward[0].target {
        ForwardTarget::Table(t) => {
            assert_eq!(t.table, "phphosts:8080");
            assert_eq!(t.mode, Mode::LoadBalance);
            assert_eq!(t.key, None);
        }
        other => panic!("unexpected target {other:?}"),
    }
}

#[test]
fn man_ssh_example() {
    let config = load("man-ssh.conf");
    let tcp = &config.protocol("myssh").unwrap().tcp;
    assert_eq!(tcp.nodelay, Some(true));
    assert_eq!(tcp.socket_buffer, Some(65536));
    assert_eq!(
        config.relays[0].forward[0].target,
        ForwardTarget::Address {
            addr: ip("192.0.2.22"),
            port: 22
        }
    );
}

#[test]
fn man_tls_inspection_example() {
    let config = load("man-tls-inspect.conf");
    let protocol = config.protocol("httpfilter").unwrap();
    assert_eq!(protocol.return_error, Some(ReturnError { style: None }));
    assert_eq!(
        protocol.tls.ca_key.as_deref(),
        Some("/etc/ssl/private/ca.key")
    );
    assert_eq!(protocol.tls.ca_key_password.as_deref(), Some("password123"));
    assert_eq!(protocol.tls.ca_cert.as_deref(), Some("/etc/ssl/ca.crt"));
    assert_eq!(protocol.rules[1].label.as_deref(), Some("Prohibited!"));
    let forward = &config.relays[0].forward[0];
    assert!(forward.tls);
    assert_eq!(forward.target, ForwardTarget::Destination);
}

#[test]
fn man_router_example() {
    let config = load("man-router.conf");
    let router = &config.routers[0];
    assert_eq!(router.name, "uplinks");
    assert_eq!(
        router.routes,
        vec![Prefix {
            addr: ip("0.0.0.0"),
            len: 0
        }]
    );
    // Without a port relayd gives router tables its "no port" 65535.
    assert_eq!(router.forward.table, "gateways:65535");
    let gateways = config.table("gateways:65535").unwrap();
    assert_eq!(gateways.check, Check::Icmp);
    assert!(gateways.hosts.iter().all(|h| h.ip_ttl == Some(1)));
}

#[test]
fn man_filter_rule_examples() {
    let config = load("man-filter-rules.conf");
    let protocol = config.protocol("rules").unwrap();
    assert_eq!(
        protocol.return_error.as_ref().unwrap().style.as_deref(),
        Some("body { background: #a00000; color: white; }")
    );
    let advisory = &protocol.rules[0];
    assert!(advisory.entities[0].digest);
    assert_eq!(
        advisory.entities[0].key,
        Some(EntityKey::Value("5c1e03f58f8ce0b457474ffb371fd1ef".into()))
    );
    // A `\` newline inside quotes continues the string.
    assert_eq!(
        advisory.label.as_deref(),
        Some(
            "<a href='http://example.com/adv.pl?id=7359'>\t\tAdvisory provided by example.com</a>"
        )
    );
    assert_eq!(advisory.origin.line, 6);
    assert_eq!(
        protocol.rules[2].entities[0].value.as_deref(),
        Some("foo=bar*")
    );
    assert_eq!(protocol.rules.len(), 6);
}

#[test]
fn openbsd_example_relayd_conf() {
    let config = load("ref-relayd.conf");
    assert_eq!(config.redirects.len(), 1);
    assert_eq!(config.relays.len(), 3);
    assert_eq!(config.protocols.len(), 3);
    // The redirect and the relay use <webhosts> on port 80 with the same
    // check: one table.
    let used: Vec<&str> = config
        .tables
        .iter()
        .filter(|t| t.port.is_some())
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(used, ["webhosts:80", "fallback:80"]);
    let redirect = &config.redirects[0];
    assert_eq!(redirect.listen[0].addr, ip("192.168.1.1"));
    assert_eq!(redirect.listen[0].interface.as_deref(), Some("trunk0"));
    let https = config.protocol("https").unwrap();
    assert_eq!(https.tcp.sack, Some(true));
    assert_eq!(https.tcp.backlog, Some(128));
    assert_eq!(https.tls, TlsOptions::default());
    let filter = config.protocol("httpfilter").unwrap();
    assert_eq!(filter.rules.len(), 10);
    assert!(filter.rules[1].quick);
    assert_eq!(filter.rules[5].direction, Direction::Response);
    assert_eq!(
        filter.rules[3].entities[0].value.as_deref(),
        Some("Mozilla/4.0 (compatible; MSIE *")
    );
    let ids: Vec<ObjectId> = config.relays.iter().map(|r| r.id).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(
        config.relays[2].forward[0].target,
        ForwardTarget::Destination
    );
}

#[test]
fn the_2022_additions() {
    let config = load("man2022-additions.conf");
    assert_eq!(
        config.global.agentx,
        Some(AgentX {
            context: Some("relayd".into()),
            path: Some("/var/agentx/master".into())
        })
    );
    let api = config.protocol("api").unwrap();
    assert_eq!(
        api.rules[0].entities[0].option,
        Some(EntityOption::Strip(1))
    );
    assert_eq!(
        api.rules[1].entities[0].key,
        Some(EntityKey::File {
            path: "tests/configs/include/blocked-urls.txt".into(),
            keys: vec!["example.com/bad".into(), "example.org/worse".into()],
        })
    );
    assert_eq!(api.tls.tlsv1_3, Some(false));
    assert_eq!(api.tls.edh, Some(EdhParams::Auto));
    assert_eq!(api.tls.session_tickets, Some(true));
    assert_eq!(api.tls.keypairs, ["api.example.com"]);
    assert_eq!(api.http.headerlen, 16384);
    assert!(api.http.websockets);
    assert!(config.relays[0].forward[0].tls);
}

#[test]
fn everything_conf_uses_every_keyword_and_loads() {
    let config = load("everything.conf");
    let global = &config.global;
    assert_eq!(
        (global.interval_secs, global.timeout_ms, global.prefork),
        (10, 1000, 4)
    );
    assert!(global.log.state_changes && global.log.host_checks);
    assert_eq!(global.log.connection, Some(ConnectionLog::ErrorsOnly));
    assert_eq!(
        global.snmp,
        Some(Snmp {
            trap: true,
            path: Some("/var/run/agentx.sock".into())
        })
    );
    assert_eq!(global.socket, "/var/run/relayd-test.sock");
    assert_eq!(global.demote.as_deref(), Some("carp"));

    let web = config.table("web:80").unwrap();
    assert_eq!(web.hosts.len(), 4, "two hosts written, two included");
    assert_eq!(web.hosts[3].parent, Some(1));
    assert_eq!(web.hosts[1].ip_ttl, Some(64));
    assert_eq!(web.hosts[1].priority, Some(5));
    assert_eq!(web.interval_secs, 20);
    assert_eq!(web.demote.as_deref(), Some("carp"));
    let unused = config.table("unused").unwrap();
    assert_eq!((unused.port, &unused.check), (None, &Check::None));

    let www = &config.redirects[0];
    assert_eq!(www.listen[0].port, PortRange { lo: 8000, hi: 8010 });
    assert_eq!(www.listen[1].proto, IpProto::Udp);
    assert_eq!(www.listen[1].port.lo, 53);
    assert!(www.pftag_match && www.sticky_address && www.disabled);
    assert_eq!(www.session_timeout_secs, 300);
    assert_eq!(www.forward[0].mode, Mode::SourceHash);
    assert_eq!(
        www.forward[0].key.as_deref(),
        Some("0x0123456789abcdef0123456789abcdef")
    );
    assert!(matches!(
        &config.table("backup:80").unwrap().check,
        Check::Http { tls: true, expect: HttpExpect::Digest(d), .. } if d.len() == 40
    ));
    let dsr = &config.redirects[1];
    assert!(dsr.route_to);
    assert_eq!(dsr.forward[0].interface.as_deref(), Some("lo"));
    assert_eq!(
        config.table("web:25").unwrap().check,
        Check::Send {
            send: String::new(),
            expect: "220 *".into(),
            tls: true
        }
    );
    assert_eq!(
        config.table("web:26").unwrap().check,
        Check::Binary {
            send: vec![0x0a, 0x0b],
            expect: vec![0x0c, 0x0d],
            tls: true
        }
    );
    // No port in the forward: the listen port.
    assert!(matches!(
        config.table("web:27").unwrap().check,
        Check::Script { .. }
    ));

    let tcp = &config.protocol("tcpopts").unwrap().tcp;
    assert_eq!(tcp.nodelay, Some(true));
    assert_eq!(tcp.sack, Some(false));
    assert!(!tcp.splice);
    assert_eq!(
        (tcp.backlog, tcp.ip_ttl, tcp.ip_minttl),
        (Some(512), Some(64), Some(2))
    );
    let everything = config.protocol("everything").unwrap();
    assert_eq!(everything.tls.keypairs.len(), 2);
    assert_eq!(everything.tls.edh, Some(EdhParams::Auto));
    assert_eq!(everything.tls.tlsv1_1, Some(false));
    assert_eq!(
        everything.tls.client_ca.as_deref(),
        Some("/etc/ssl/clients.pem")
    );
    assert_eq!(
        everything.tls.verify_name.as_deref(),
        Some("backend.example.com")
    );
    // Each option names its own line; the last one written wins.
    let origins = &everything.tls.origins;
    let lines: Vec<u32> = origins.keypairs.iter().map(|o| o.line).collect();
    assert_eq!(lines, [58, 58]);
    assert_eq!(origins.ca_key.as_ref().map(|o| o.line), Some(61));
    assert_eq!(origins.client_ca.as_ref().map(|o| o.line), Some(62));
    assert_eq!(origins.edh.as_ref().map(|o| o.line), Some(64));
    assert_eq!(origins.tlsv1_1.as_ref().map(|o| o.line), Some(68));
    assert!(origins
        .ciphers
        .as_ref()
        .is_some_and(|o| o.file.ends_with("everything.conf")));
    assert_eq!(everything.http.headerlen, 4096);
    assert!(!everything.http.websockets);
    let first = &everything.rules[0];
    assert_eq!(first.family, Some(AddressFamily::Inet));
    assert_eq!(
        first.from,
        Some(Prefix {
            addr: ip("10.0.0.0"),
            len: 8
        })
    );
    assert_eq!(first.forward_to.as_deref(), Some("web"));
    assert_eq!(everything.rules[1].method.as_deref(), Some("GET"));
    assert!(everything.rules[3].untag && everything.rules[3].unlabel);
    assert_eq!(config.protocol("dnsproto").unwrap().kind, ProtocolKind::Dns);

    let relay = &config.relays[0];
    assert_eq!(relay.listen.len(), 2);
    assert!(relay.disabled);
    let forward = &relay.forward[0];
    assert!(forward.transparent && forward.tls && forward.inet);
    assert_eq!(forward.retry, 3);
    let lookup = &config.relays[1];
    assert_eq!(
        lookup.listen[0].port, 8081,
        "port from a macro of an included file"
    );
    assert_eq!(lookup.forward[0].target, ForwardTarget::NatLookup);
    assert_eq!(lookup.forward[1].inet6_prefix, Some(ip("2001:db8::")));

    let router = &config.routers[0];
    assert_eq!(router.routes.len(), 2);
    assert_eq!(
        (router.rtable, router.rtlabel.as_deref()),
        (Some(1), Some("uplink"))
    );
    assert!(router.disabled);
}

#[test]
fn rules_of_relayds_regression_tests() {
    let config = load("regress-rules.conf");
    let protocol = config.protocol("regress").unwrap();
    assert_eq!(protocol.rules.len(), 23);
    let set_cookie = &protocol.rules[7];
    assert_eq!(set_cookie.direction, Direction::Response);
    assert_eq!(set_cookie.entities[0].kind, EntityKind::Cookie);
    assert_eq!(set_cookie.tag.as_deref(), Some("cookie"));
    let method_and_path = &protocol.rules[9];
    assert_eq!(method_and_path.method.as_deref(), Some("HEAD"));
    assert_eq!(method_and_path.entities[0].kind, EntityKind::Path);
    assert_eq!(method_and_path.entities[0].key, None);
    assert_eq!(protocol.tcp.socket_buffer, Some(1024));
    assert_eq!(config.global.prefork, 1);
}

#[test]
fn backend_reuse_is_on_unless_switched_off() {
    let with = |options: &str| {
        let text = format!(
            "http protocol p {{\n{options}\n}}\n\
             relay r {{\nlisten on 127.0.0.1 port 8080\nprotocol p\n\
             forward to 127.0.0.1 port 80\n}}\n"
        );
        common::parse(&text).expect("loads").protocols[0].http.reuse
    };
    assert!(with(""), "an OpenBSD configuration reuses");
    assert!(!with("http { no reuse }"));
    assert!(!with("http { websockets, no reuse }"));
    assert!(with("http { no reuse, reuse }"));
    assert!(with("http reuse"));
}
