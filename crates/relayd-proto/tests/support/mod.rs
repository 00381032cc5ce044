//! Shared by the integration tests: sample configuration objects and a way
//! to count the variants of a message enum, so a test can prove it covered
//! every message type.

#![allow(dead_code)]

use relayd_config::*;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Number of variants of the enum `M`, read from the error serde's derived
/// code gives for an out-of-range variant index ("variant index 0 <= i < N").
pub fn variant_count<M: DeserializeOwned>() -> u32 {
    // 250 is a one-byte varint in bincode's standard config.
    let err = bincode::serde::decode_from_slice::<M, _>(&[250u8], bincode::config::standard())
        .err()
        .expect("variant 250 should not exist");
    let text = err.to_string();
    let tail = text
        .split("i < ")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected decode error: {text}"));
    let digits: String = tail.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("unexpected decode error: {text}"))
}

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

pub fn origin(line: u32) -> Origin {
    Origin {
        file: "/etc/relayd.conf".into(),
        line,
    }
}

pub fn host(id: ObjectId, last_octet: u8) -> Host {
    Host {
        id,
        name: format!("10.0.0.{last_octet}"),
        addr: v4(10, 0, 0, last_octet),
        retry: 2,
        parent: (id > 1).then_some(1),
        priority: Some(5),
        ip_ttl: None,
    }
}

pub fn table() -> Table {
    Table {
        id: 1,
        name: "web:80".into(),
        template: "web".into(),
        port: Some(80),
        disabled: false,
        check: Check::Http {
            tls: false,
            path: "/".into(),
            host: Some("example.org".into()),
            expect: HttpExpect::Code(200),
        },
        interval_secs: DEFAULT_INTERVAL_SECS,
        timeout_ms: DEFAULT_TIMEOUT_MS,
        demote: None,
        hosts: vec![host(1, 1), host(2, 2)],
    }
}

pub fn forward() -> TableForward {
    TableForward {
        table: "web:80".into(),
        mode: Mode::LoadBalance,
        key: Some("0x1234".into()),
        retry: 1,
        interface: None,
    }
}

pub fn redirect() -> Redirect {
    Redirect {
        id: 1,
        name: "www".into(),
        disabled: false,
        listen: vec![RedirectListen {
            addr: v4(192, 0, 2, 1),
            proto: IpProto::Tcp,
            port: PortRange { lo: 80, hi: 80 },
            interface: Some("eth0".into()),
            origin: Default::default(),
        }],
        forward: vec![forward()],
        route_to: false,
        pftag: Some("RELAYD".into()),
        pftag_match: false,
        sticky_address: true,
        session_timeout_secs: DEFAULT_SESSION_TIMEOUT_SECS,
        origin: origin(10),
    }
}

pub fn relay() -> Relay {
    Relay {
        id: 1,
        name: "httpproxy".into(),
        disabled: false,
        listen: vec![RelayListen {
            addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
            port: 8443,
            tls: true,
        }],
        protocol: Some("https".into()),
        forward: vec![
            RelayForward {
                target: ForwardTarget::Table(forward()),
                tls: false,
                transparent: false,
                retry: 0,
                inet: false,
                inet6_prefix: None,
            },
            RelayForward {
                target: ForwardTarget::Address {
                    addr: v4(127, 0, 0, 1),
                    port: 8080,
                },
                tls: true,
                transparent: true,
                retry: 3,
                inet: true,
                inet6_prefix: Some("64:ff9b::".parse().unwrap()),
            },
        ],
        session_timeout_secs: 300,
        origin: origin(20),
    }
}

pub fn protocol() -> Protocol {
    Protocol {
        id: 1,
        name: "https".into(),
        kind: ProtocolKind::Http,
        tcp: TcpOptions::default(),
        tls: TlsOptions {
            keypairs: vec!["www.example.org".into()],
            tlsv1_3: Some(true),
            ..TlsOptions::default()
        },
        http: HttpOptions::default(),
        return_error: Some(ReturnError { style: None }),
        rules: vec![FilterRule {
            action: RuleAction::Match,
            quick: false,
            direction: Direction::Request,
            family: Some(AddressFamily::Inet),
            from: Some(Prefix {
                addr: v4(10, 0, 0, 0),
                len: 8,
            }),
            to: None,
            forward_to: None,
            tag: Some("INTERNAL".into()),
            tagged: None,
            label: None,
            untag: false,
            unlabel: false,
            method: Some("GET".into()),
            entities: vec![EntityMatch {
                kind: EntityKind::Header,
                option: Some(EntityOption::Set),
                digest: false,
                key: Some(EntityKey::Value("X-Forwarded-For".into())),
                value: Some("$REMOTE_ADDR".into()),
            }],
            origin: origin(31),
        }],
        origin: origin(30),
    }
}

pub fn router() -> Router {
    Router {
        id: 1,
        name: "uplinks".into(),
        disabled: false,
        routes: vec![Prefix {
            addr: v4(0, 0, 0, 0),
            len: 0,
        }],
        forward: forward(),
        rtable: Some(1),
        rtlabel: Some("uplink".into()),
        origin: origin(40),
    }
}

pub fn config() -> Config {
    Config {
        global: Global {
            prefork: 2,
            ..Global::default()
        },
        tables: vec![table()],
        redirects: vec![redirect()],
        relays: vec![relay()],
        protocols: vec![protocol()],
        routers: vec![router()],
    }
}
