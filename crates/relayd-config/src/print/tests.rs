//! The printer on hand-built models: exact text for each kind of block, so a
//! change in spelling shows up here before it breaks the round trip.

use super::print_config;
use crate::model::*;

fn host(id: ObjectId, name: &str) -> Host {
    Host {
        id,
        name: name.into(),
        addr: name
            .parse()
            .unwrap_or_else(|_| "192.0.2.1".parse().unwrap()),
        retry: 0,
        parent: None,
        priority: None,
        ip_ttl: None,
    }
}

fn table(id: ObjectId, name: &str, template: &str, port: Option<u16>, check: Check) -> Table {
    Table {
        id,
        name: name.into(),
        template: template.into(),
        port,
        disabled: false,
        check,
        interval_secs: DEFAULT_INTERVAL_SECS,
        timeout_ms: DEFAULT_TIMEOUT_MS,
        demote: None,
        hosts: vec![host(1, "127.0.0.1")],
    }
}

fn table_forward(name: &str) -> TableForward {
    TableForward {
        table: name.into(),
        mode: Mode::RoundRobin,
        key: None,
        retry: 0,
        interface: None,
    }
}

fn relay(id: ObjectId, name: &str, forward: Vec<RelayForward>) -> Relay {
    Relay {
        id,
        name: name.into(),
        disabled: false,
        listen: vec![RelayListen {
            addr: "127.0.0.1".parse().unwrap(),
            port: 8080,
            tls: false,
        }],
        protocol: None,
        forward,
        session_timeout_secs: DEFAULT_SESSION_TIMEOUT_SECS,
        origin: Origin::default(),
    }
}

fn to_table(name: &str) -> RelayForward {
    RelayForward {
        target: ForwardTarget::Table(table_forward(name)),
        tls: false,
        transparent: false,
        retry: 0,
        inet: false,
        inet6_prefix: None,
    }
}

#[test]
fn an_empty_config_prints_nothing() {
    assert_eq!(print_config(&Config::default()), "");
}

#[test]
fn globals_print_only_what_differs_from_the_defaults() {
    let mut config = Config::default();
    config.global.interval_secs = 5;
    config.global.prefork = 2;
    config.global.log.connection = Some(ConnectionLog::ErrorsOnly);
    config.global.snmp = Some(Snmp {
        trap: true,
        path: None,
    });
    config.global.agentx = Some(AgentX {
        context: Some("ctx".into()),
        path: Some("/run/agentx".into()),
    });
    config.global.socket = "/tmp/relayd.sock".into();
    assert_eq!(
        print_config(&config),
        "interval 5\nprefork 2\nlog connection errors\nsnmp trap\n\
         agentx context \"ctx\" path \"/run/agentx\"\nsocket \"/tmp/relayd.sock\"\n"
    );
}

#[test]
fn inherited_tables_print_one_definition_and_their_uses() {
    let mut config = Config::default();
    let mut web = table(1, "web", "web", Some(80), Check::Tcp);
    web.hosts = vec![host(1, "127.0.0.1"), host(2, "::1")];
    web.hosts[1].retry = 2;
    let mut copy = table(2, "web:8080", "web", Some(8080), Check::Icmp);
    copy.hosts = vec![host(3, "127.0.0.1"), host(4, "::1")];
    copy.timeout_ms = 1000;
    config.tables = vec![web, copy];
    let mut backup = to_table("web:8080");
    backup.target = ForwardTarget::Table(TableForward {
        mode: Mode::Hash,
        key: Some("sessid".into()),
        ..table_forward("web:8080")
    });
    config.relays = vec![relay(1, "www", vec![to_table("web"), backup])];
    assert_eq!(
        print_config(&config),
        "table <web> {\n\t127.0.0.1\n\t::1 retry 2\n}\n\n\
         relay \"www\" {\n\
         \tlisten on 127.0.0.1 port 8080\n\
         \tforward to <web> port 80 check tcp\n\
         \tforward to <web> port 8080 mode hash \"sessid\" check icmp timeout 1000\n\
         }\n"
    );
}

#[test]
fn checks_quote_their_strings() {
    let mut config = Config::default();
    let checks = [
        Check::Http {
            tls: true,
            path: "/a \"b\"".into(),
            host: Some("www".into()),
            expect: HttpExpect::Code(200),
        },
        Check::Send {
            send: String::new(),
            expect: "220 *".into(),
            tls: false,
        },
        Check::Binary {
            send: vec![0x30, 0x0c],
            expect: vec![0x0a],
            tls: true,
        },
        Check::Script {
            path: "/usr/local/bin/check".into(),
        },
    ];
    for (i, check) in checks.into_iter().enumerate() {
        let name = format!("t{i}");
        config
            .tables
            .push(table(i as u32 + 1, &name, &name, Some(80), check));
    }
    config.relays = vec![relay(
        1,
        "r",
        (0..4).map(|i| to_table(&format!("t{i}"))).collect(),
    )];
    let text = print_config(&config);
    for expected in [
        "forward to <t0> port 80 check https \"/a \\\"b\\\"\" host \"www\" code 200\n",
        "forward to <t1> port 80 check send nothing expect \"220 *\"\n",
        "forward to <t2> port 80 check binary send \"300c\" expect \"0a\" tls\n",
        "forward to <t3> port 80 check script \"/usr/local/bin/check\"\n",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
}

#[test]
fn redirects_and_routers_print_their_listeners_and_routes() {
    let tables = vec![
        table(1, "gw", "gw", Some(53), Check::Icmp),
        table(2, "gw:54", "gw", Some(54), Check::Icmp),
    ];
    let redirects = vec![Redirect {
        id: 1,
        name: "dns".into(),
        disabled: true,
        listen: vec![RedirectListen {
            addr: "2001:db8::53".parse().unwrap(),
            proto: IpProto::Udp,
            port: PortRange { lo: 53, hi: 54 },
            interface: Some("eth0".into()),
            origin: Default::default(),
        }],
        forward: vec![table_forward("gw")],
        route_to: false,
        pftag: Some("DNS".into()),
        pftag_match: true,
        sticky_address: true,
        session_timeout_secs: 60,
        origin: Origin::default(),
    }];
    let routers = vec![Router {
        id: 1,
        name: "uplinks".into(),
        disabled: false,
        routes: vec![Prefix {
            addr: "0.0.0.0".parse().unwrap(),
            len: 0,
        }],
        forward: table_forward("gw:54"),
        rtable: Some(1),
        rtlabel: Some("wan".into()),
        origin: Origin::default(),
    }];
    let config = Config {
        tables,
        redirects,
        routers,
        ..Config::default()
    };
    let text = print_config(&config);
    assert!(text.contains(
        "redirect \"dns\" {\n\tdisable\n\
         \tlisten on 2001:db8::53 udp port 53:54 interface \"eth0\"\n\
         \tmatch pftag \"DNS\"\n\
         \tforward to <gw> port 53 check icmp\n\
         \tsession timeout 60\n\tsticky-address\n}\n"
    ));
    assert!(text.contains(
        "router \"uplinks\" {\n\troute 0.0.0.0/0\n\
         \tforward to <gw> port 54 check icmp\n\trtable 1\n\trtlabel \"wan\"\n}\n"
    ));
}

#[test]
fn blocks_are_ordered_by_the_table_copies_they_create() {
    // The redirect created `web` before the relay created `web:8080`, so it
    // must come first even though relays are otherwise printed first.
    let tables = vec![
        table(1, "web", "web", Some(80), Check::Tcp),
        table(2, "web:8080", "web", Some(8080), Check::Tcp),
    ];
    let redirects = vec![Redirect {
        id: 1,
        name: "www".into(),
        disabled: false,
        listen: vec![RedirectListen {
            addr: "127.0.0.1".parse().unwrap(),
            proto: IpProto::Tcp,
            port: PortRange { lo: 80, hi: 80 },
            interface: None,
            origin: Default::default(),
        }],
        forward: vec![TableForward {
            interface: Some("eth1".into()),
            ..table_forward("web")
        }],
        route_to: true,
        pftag: None,
        pftag_match: false,
        sticky_address: false,
        session_timeout_secs: DEFAULT_SESSION_TIMEOUT_SECS,
        origin: Origin::default(),
    }];
    let relays = vec![relay(1, "proxy", vec![to_table("web:8080")])];
    let config = Config {
        tables,
        redirects,
        relays,
        ..Config::default()
    };
    let text = print_config(&config);
    let redirect = text.find("redirect \"www\"").unwrap();
    let relay = text.find("relay \"proxy\"").unwrap();
    assert!(redirect < relay, "{text}");
    assert!(text.contains("\troute to <web> port 80 check tcp interface \"eth1\"\n"));
}

#[test]
fn protocols_print_options_and_rules() {
    let mut config = Config::default();
    let mut protocol = Protocol {
        id: 1,
        name: "https".into(),
        kind: ProtocolKind::Http,
        tcp: TcpOptions::default(),
        tls: TlsOptions::default(),
        http: HttpOptions::default(),
        return_error: Some(ReturnError {
            style: Some("body { color: red; }".into()),
        }),
        rules: Vec::new(),
        origin: Origin::default(),
    };
    protocol.tcp.nodelay = Some(true);
    protocol.tcp.sack = Some(false);
    protocol.tcp.splice = false;
    protocol.tcp.backlog = Some(128);
    protocol.tls.keypairs = vec!["www".into()];
    protocol.tls.ca_key = Some("/etc/ssl/private/ca.key".into());
    protocol.tls.ca_key_password = Some("pw".into());
    protocol.tls.edh = Some(EdhParams::Legacy);
    protocol.tls.tlsv1_0 = Some(false);
    protocol.http.websockets = true;
    protocol.http.reuse = false;
    protocol.rules.push(FilterRule {
        action: RuleAction::Match,
        quick: true,
        direction: Direction::Response,
        family: Some(AddressFamily::Inet6),
        from: Some(Prefix {
            addr: "2001:db8::".parse().unwrap(),
            len: 32,
        }),
        to: None,
        forward_to: Some("web".into()),
        tag: Some("t".into()),
        tagged: None,
        label: None,
        untag: false,
        unlabel: true,
        method: Some("GET".into()),
        entities: vec![
            EntityMatch {
                kind: EntityKind::Header,
                option: Some(EntityOption::Set),
                digest: false,
                key: Some(EntityKey::Value("X-Forwarded-For".into())),
                value: Some("$REMOTE_ADDR".into()),
            },
            EntityMatch {
                kind: EntityKind::Path,
                option: Some(EntityOption::Strip(2)),
                digest: false,
                key: None,
                value: None,
            },
        ],
        origin: Origin::default(),
    });
    config.protocols = vec![protocol];
    assert_eq!(
        print_config(&config),
        "http protocol \"https\" {\n\
         \treturn error style \"body { color: red; }\"\n\
         \ttcp { nodelay, no sack, no splice, backlog 128 }\n\
         \ttls keypair \"www\"\n\
         \ttls ca key \"/etc/ssl/private/ca.key\" password \"pw\"\n\
         \ttls edh params legacy\n\
         \ttls no tlsv1.0\n\
         \thttp { websockets, no reuse }\n\
         \n\
         \tmatch response quick inet6 from 2001:db8::/32 forward to <web> \\\n\
         \t\tmethod GET header set \"X-Forwarded-For\" value \"$REMOTE_ADDR\" \\\n\
         \t\tpath strip 2 tag \"t\" no label\n\
         }\n"
    );
}

#[test]
fn an_empty_protocol_prints_empty_braces() {
    let config = Config {
        protocols: vec![Protocol {
            id: 1,
            name: "dns".into(),
            kind: ProtocolKind::Dns,
            tcp: TcpOptions::default(),
            tls: TlsOptions::default(),
            http: HttpOptions::default(),
            return_error: None,
            rules: Vec::new(),
            origin: Origin::default(),
        }],
        ..Config::default()
    };
    assert_eq!(print_config(&config), "dns protocol \"dns\" { }\n");
}

#[test]
fn long_forward_lines_wrap_between_clauses() {
    let mut web = table(
        1,
        "web",
        "web",
        Some(80),
        Check::Http {
            tls: false,
            path: "/a/rather/long/path/to/check".into(),
            host: Some("www.example.com".into()),
            expect: HttpExpect::Code(200),
        },
    );
    web.timeout_ms = 300;
    web.demote = Some("carp".into());
    let config = Config {
        tables: vec![web],
        relays: vec![relay(1, "www", vec![to_table("web")])],
        ..Config::default()
    };
    let text = print_config(&config);
    assert!(
        text.contains(
            "\tforward to <web> port 80 \\\n\
             \t\tcheck http \"/a/rather/long/path/to/check\" host \"www.example.com\" code 200 \\\n\
             \t\ttimeout 300 demote \"carp\"\n"
        ),
        "{text}"
    );
}
