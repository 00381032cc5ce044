//! Every message of every channel crosses a real socketpair and comes back
//! equal, with the variant index in the header; the test fails when a new
//! variant has no sample here. Descriptors are checked by using them.

mod support;

use relayd_config::IpProto;
use relayd_proto::config_sync::{config_parts, ConfigAssembler, ConfigPart, PartKind};
use relayd_proto::control::{ControlReply, ControlRequest, IdName, MonitorEvent, Target};
use relayd_proto::messages::agentx::{MibHost, MibRouter, MibTable, MibView};
use relayd_proto::messages::hce_pfe::HceToPfe;
use relayd_proto::messages::hce_relay::HceToRelay;
use relayd_proto::messages::parent_ca::ParentToCa;
use relayd_proto::messages::parent_hce::{HceToParent, ParentToHce};
use relayd_proto::messages::parent_metrics::{MetricsToParent, ParentToMetrics};
use relayd_proto::messages::parent_pfe::{ParentToPfe, PfeToParent, RedirectReport};
use relayd_proto::messages::parent_relay::{ParentToRelay, RelayToParent};
use relayd_proto::messages::pfe_relay::{
    NatLookAnswer, NatLookRequest, NatLookResult, PfeToRelay, RelayToPfe,
};
use relayd_proto::messages::relay_ca::{CaToRelay, RelayToCa};
use relayd_proto::messages::*;
use relayd_proto::status::*;
use relayd_proto::{envelope_kind, ImsgChannel, ProcessKind};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::io::{Read, Write};
use std::net::SocketAddr;
use support::*;

fn host_status() -> HostStatus {
    HostStatus {
        host_id: 2,
        table_id: 1,
        state: HostState::Down,
        check_count: 10,
        up_count: 7,
        retry_count: 1,
        last_error: HostError::TcpConnectTimeout,
        last_check_micros: Some(1250),
    }
}

fn statistics() -> Statistics {
    Statistics {
        id: 1,
        process: 1,
        interval_secs: 60,
        count: 1000,
        last: 5,
        avg: 4,
        last_hour: 300,
        avg_hour: 250,
        last_day: 9000,
        avg_day: 8000,
        dns: Some(DnsDrops {
            malformed: 3,
            timeouts: 2,
            ..DnsDrops::default()
        }),
        http: Some(HttpReuse {
            idle: 4,
            reused: 99,
        }),
        http_answers: Some(HttpAnswers {
            by_status: [(200, 990), (503, 10)].into_iter().collect(),
        }),
        bytes_in: 123_456,
        bytes_out: 7_890_123,
    }
}

fn session() -> SessionRow {
    SessionRow {
        process: 1,
        id: 42,
        relay_id: 1,
        client: "127.0.0.1:50000".parse().unwrap(),
        backend: Some("[::1]:8080".parse().unwrap()),
        done: false,
        age_secs: 3661,
        idle_secs: 2,
        pid: 4242,
        tag: Some("INTERNAL".into()),
    }
}

fn peer() -> PeerChannel {
    PeerChannel {
        peer: ProcessKind::Pfe,
        instance: 0,
    }
}

fn relay_file(kind: RelayFileKind) -> RelayFile {
    RelayFile {
        relay_id: 1,
        listen: 0,
        kind,
        name: "www.example.org".into(),
        path: "/etc/ssl/www.example.org.crt".into(),
        origin: relayd_config::Origin {
            file: "relayd.conf".into(),
            line: 7,
        },
    }
}

/// Every lifecycle message a parent sends, with a config of every part.
fn every_lifecycle_message<E>() -> Vec<ToChild<E>> {
    let mut all = vec![Lifecycle::Reset { generation: 1 }];
    all.extend(
        config_parts(&config(), &PartKind::ALL)
            .into_iter()
            .map(Lifecycle::Config),
    );
    all.extend([
        Lifecycle::ConfigDone,
        Lifecycle::Start { generation: 1 },
        Lifecycle::Abort { generation: 2 },
        Lifecycle::SetVerbose(2),
        Lifecycle::PeerChannel(peer()),
        Lifecycle::Shutdown,
    ]);
    all.into_iter().map(ToChild::Lifecycle).collect()
}

/// Every lifecycle answer a child sends, a refusal of every kind included.
fn every_lifecycle_answer<R>() -> Vec<ToParent<R>> {
    let refusals = [
        Refusal::Relays {
            reason: "relayd.conf:3: relay www: TLS relays are not implemented yet".into(),
        },
        Refusal::Redirections {
            reason: "String exceeds maximum length of 16".into(),
        },
        Refusal::MissingDescriptor {
            what: "listening socket 127.0.0.1:80".into(),
        },
        Refusal::Keypair {
            keypair: "www.example.org".into(),
            reason: "not a private key".into(),
        },
        Refusal::MissingRoutePlan,
        Refusal::Metrics {
            reason: "cannot serve the socket of 127.0.0.1:9121".into(),
        },
    ];
    let mut all = vec![
        LifecycleAnswer::Ready,
        LifecycleAnswer::ConfigDone {
            generation: 1,
            verdict: Verdict::Accepted,
        },
    ];
    all.extend(
        refusals
            .into_iter()
            .map(|refusal| LifecycleAnswer::ConfigDone {
                generation: 2,
                verdict: Verdict::Refused(refusal),
            }),
    );
    all.into_iter().map(ToParent::Lifecycle).collect()
}

/// The frame types of a flat enum `M`: its variant indexes.
fn flat_kinds<M: DeserializeOwned>() -> BTreeSet<u32> {
    (0..variant_count::<M>()).collect()
}

/// The frame types of an envelope holding `Life` (variant 0) and engine
/// messages `E` (variant 1), `engine_variants` of them.
fn envelope_kinds<Life: DeserializeOwned>(engine_variants: u32) -> BTreeSet<u32> {
    let lifecycle = (0..variant_count::<Life>()).map(|i| envelope_kind(0, i));
    let engine = (0..engine_variants).map(|i| envelope_kind(1, i));
    lifecycle.chain(engine).collect()
}

/// Sends `a_to_b` from one end and `b_to_a` from the other, at the same
/// time, and checks both arrive intact and cover every variant.
async fn round_trip<A, B>(a_to_b: Vec<A>, b_to_a: Vec<B>)
where
    A: Serialize + DeserializeOwned + PartialEq + Debug,
    B: Serialize + DeserializeOwned + PartialEq + Debug,
{
    round_trip_kinds(a_to_b, flat_kinds::<A>(), b_to_a, flat_kinds::<B>()).await
}

/// [`round_trip`] on a parent <-> child channel.
async fn parent_child_round_trip<E, R>(to_child: Vec<E>, to_parent: Vec<R>)
where
    E: Serialize + DeserializeOwned + PartialEq + Debug,
    R: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut a_to_b = every_lifecycle_message::<E>();
    a_to_b.extend(to_child.into_iter().map(ToChild::Engine));
    let mut b_to_a = every_lifecycle_answer::<R>();
    let engine_reports = u32::try_from(to_parent.len()).unwrap();
    b_to_a.extend(to_parent.into_iter().map(ToParent::Engine));
    let engine_reports = if engine_reports == 0 {
        0
    } else {
        variant_count::<R>()
    };
    let child_kinds = envelope_kinds::<Lifecycle>(variant_count::<E>());
    let parent_kinds = envelope_kinds::<LifecycleAnswer>(engine_reports);
    round_trip_kinds(a_to_b, child_kinds, b_to_a, parent_kinds).await
}

/// Sends both ways and checks the messages and that their frame types are
/// exactly `a_kinds` and `b_kinds`.
async fn round_trip_kinds<A, B>(
    a_to_b: Vec<A>,
    a_kinds: BTreeSet<u32>,
    b_to_a: Vec<B>,
    b_kinds: BTreeSet<u32>,
) where
    A: Serialize + DeserializeOwned + PartialEq + Debug,
    B: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let (a, b) = ImsgChannel::<A, B>::pair().unwrap();
    let (mut a_reader, mut a_writer) = a.split();
    let (mut b_reader, mut b_writer) = b.split();
    let send_a = async {
        for (i, msg) in a_to_b.iter().enumerate() {
            a_writer.send_to_peer(i as u32, msg, None).await.unwrap();
        }
        drop(a_writer);
    };
    let send_b = async {
        for msg in &b_to_a {
            b_writer.send(msg, None).await.unwrap();
        }
        drop(b_writer);
    };
    let recv_b = async {
        let mut got = Vec::new();
        while let Some(received) = b_reader.recv().await.unwrap() {
            got.push(received);
        }
        got
    };
    let recv_a = async {
        let mut got = Vec::new();
        while let Some(received) = a_reader.recv().await.unwrap() {
            got.push(received);
        }
        got
    };
    let ((), (), at_b, at_a) = tokio::join!(send_a, send_b, recv_b, recv_a);

    let pid = std::process::id();
    for (i, received) in at_b.iter().enumerate() {
        assert_eq!(received.header.peer_id, i as u32);
        assert_eq!(received.header.pid, pid);
        assert!(received.fd.is_none());
    }
    let msgs_at_b: Vec<&A> = at_b.iter().map(|r| &r.msg).collect();
    assert_eq!(msgs_at_b, a_to_b.iter().collect::<Vec<_>>());
    let msgs_at_a: Vec<&B> = at_a.iter().map(|r| &r.msg).collect();
    assert_eq!(msgs_at_a, b_to_a.iter().collect::<Vec<_>>());

    let kinds_at_b: BTreeSet<u32> = at_b.iter().map(|r| r.header.kind).collect();
    assert_eq!(
        kinds_at_b,
        a_kinds,
        "every variant of {} needs a sample",
        std::any::type_name::<A>()
    );
    let kinds_at_a: BTreeSet<u32> = at_a.iter().map(|r| r.header.kind).collect();
    assert_eq!(
        kinds_at_a,
        b_kinds,
        "every variant of {} needs a sample",
        std::any::type_name::<B>()
    );
}

#[tokio::test]
async fn parent_hce() {
    let to_hce = vec![
        ParentToHce::HostEnable(1),
        ParentToHce::HostDisable(2),
        ParentToHce::TableEnable(1),
        ParentToHce::TableDisable(1),
        ParentToHce::Poll,
        ParentToHce::ScriptResult(ScriptResult {
            request_id: 4,
            host_id: 1,
            table_id: 1,
            retval: -1,
        }),
        ParentToHce::IcmpSocket(IcmpFamily::V4),
        ParentToHce::IcmpSocket(IcmpFamily::V6),
    ];
    let to_parent = vec![
        HceToParent::HostStatus(host_status()),
        HceToParent::Sync,
        HceToParent::RunScript(ScriptRequest {
            request_id: 4,
            host_id: 1,
            table_id: 1,
            path: "/usr/local/bin/check".into(),
            host_name: "10.0.0.1".into(),
            timeout_ms: 200,
        }),
    ];
    parent_child_round_trip(to_hce, to_parent).await;
}

/// The sample configuration's router, planned (its label a realm).
fn route_plan() -> relayd_route::RoutePlan {
    let realms = relayd_route::Realms::parse("5 uplink\n", None);
    let plan = relayd_route::RoutePlan::new(&config(), &realms).unwrap();
    assert_eq!(plan.routers().len(), 1);
    plan
}

#[tokio::test]
async fn parent_pfe() {
    let to_pfe = vec![
        ParentToPfe::HostEnable(1),
        ParentToPfe::HostDisable(1),
        ParentToPfe::TableEnable(1),
        ParentToPfe::TableDisable(1),
        ParentToPfe::RedirectEnable(1),
        ParentToPfe::RedirectDisable(1),
        ParentToPfe::RoutePlan(route_plan()),
        ParentToPfe::RouterEnable(1),
        ParentToPfe::RouterDisable(1),
        ParentToPfe::AgentxSocket { error: None },
        ParentToPfe::AgentxSocket {
            error: Some("connection refused".into()),
        },
        ParentToPfe::MibView {
            request_id: 3,
            view: Box::new(mib_view()),
        },
    ];
    let to_parent = vec![
        PfeToParent::Redirect(RedirectReport {
            redirect_id: 1,
            state: RedirectState::ActiveBackup,
            stats: statistics(),
        }),
        PfeToParent::TableChanged(1),
        PfeToParent::Error("nft: no such table".into()),
        PfeToParent::AgentxConnect,
        PfeToParent::MibView { request_id: 3 },
    ];
    parent_child_round_trip(to_pfe, to_parent).await;
}

/// A view with a row of every kind.
fn mib_view() -> MibView {
    MibView {
        redirects: vec![RedirectRow {
            id: 1,
            name: "rdr".into(),
            state: RedirectState::Active,
            stats: Some(statistics()),
        }],
        relays: vec![RelayRow {
            id: 1,
            name: "www".into(),
            disabled: false,
            stats: vec![statistics()],
        }],
        routers: vec![MibRouter {
            row: RouterRow {
                id: 1,
                name: "up".into(),
                ..RouterRow::default()
            },
            table_id: Some(2),
        }],
        hosts: vec![MibHost {
            row: HostRow {
                name: "127.0.0.1".into(),
                parent_id: None,
                disabled: false,
                status: host_status(),
            },
            addr: "127.0.0.1".parse().unwrap(),
        }],
        tables: vec![MibTable {
            row: TableRow {
                id: 2,
                name: "web".into(),
                disabled: false,
                up_hosts: 1,
            },
            hosts: 1,
        }],
        sessions: Vec::new(),
    }
}

#[tokio::test]
async fn parent_relay() {
    let to_relay = vec![
        ParentToRelay::HostEnable(1),
        ParentToRelay::HostDisable(1),
        ParentToRelay::TableEnable(1),
        ParentToRelay::TableDisable(1),
        ParentToRelay::ListenSocket(ListenSocket {
            relay_id: 1,
            index: 0,
            addr: "127.0.0.1:8443".parse().unwrap(),
            tls: true,
        }),
        ParentToRelay::RelayFile(relay_file(RelayFileKind::Certificate)),
        ParentToRelay::RelayFile(relay_file(RelayFileKind::CaCertificate)),
        ParentToRelay::RelayFile(relay_file(RelayFileKind::CaFile)),
        ParentToRelay::RelayFile(relay_file(RelayFileKind::Ocsp)),
        ParentToRelay::TicketKeys(TicketKeys {
            keys: vec![TicketKey {
                name: [1; 16],
                secret: [2; 32],
                created: 1_700_000_000,
            }],
        }),
        ParentToRelay::BindAnyResult(BindAnyResult {
            request_id: 9,
            error: Some("EPERM".into()),
        }),
        ParentToRelay::ListSessions { request_id: 3 },
        ParentToRelay::Drain,
    ];
    let to_parent = vec![
        RelayToParent::Statistics(statistics()),
        RelayToParent::Session {
            request_id: 3,
            session: session(),
        },
        RelayToParent::SessionsEnd { request_id: 3 },
        RelayToParent::BindAny(BindAnyRequest {
            request_id: 9,
            relay_id: 1,
            proto: IpProto::Udp,
            addr: "192.0.2.1:53".parse().unwrap(),
        }),
        RelayToParent::Drained,
    ];
    parent_child_round_trip(to_relay, to_parent).await;
}

#[tokio::test]
async fn parent_ca() {
    let to_ca = vec![
        ParentToCa::RelayFile(relay_file(RelayFileKind::Key)),
        ParentToCa::RelayFile(relay_file(RelayFileKind::CaKey)),
    ];
    parent_child_round_trip::<ParentToCa, NoMessage>(to_ca, vec![]).await;
}

#[tokio::test]
async fn parent_metrics() {
    let to_metrics = vec![
        ParentToMetrics::ListenSocket("127.0.0.1:9121".parse().unwrap()),
        ParentToMetrics::Exposition {
            request_id: 7,
            text: "relayd_host_up 1\n".into(),
        },
    ];
    let to_parent = vec![MetricsToParent::Scrape { request_id: 7 }];
    parent_child_round_trip(to_metrics, to_parent).await;
}

#[test]
fn every_message_of_a_channel_has_a_type_of_its_own() {
    let reset = relayd_proto::message_kind(&ToChild::<ParentToHce>::Lifecycle(Lifecycle::Reset {
        generation: 1,
    }));
    let poll = relayd_proto::message_kind(&ToChild::Engine(ParentToHce::Poll));
    assert_eq!((reset.index, reset.name), (0x1_0000, "Reset"));
    assert_eq!((poll.index, poll.name), (0x2_0004, "Poll"));
    // The same lifecycle message has the same type on every channel.
    let on_relay =
        relayd_proto::message_kind(&ToChild::<ParentToRelay>::Lifecycle(Lifecycle::Shutdown));
    let on_ca = relayd_proto::message_kind(&ToChild::<ParentToCa>::Lifecycle(Lifecycle::Shutdown));
    assert_eq!(on_relay, on_ca);
}

#[tokio::test]
async fn hce_to_pfe_and_relay() {
    let updates = vec![HceToPfe::HostStatus(host_status()), HceToPfe::Sync];
    round_trip::<HceToPfe, NoMessage>(updates, vec![]).await;
    let updates = vec![HceToRelay::HostStatus(host_status()), HceToRelay::Sync];
    round_trip::<HceToRelay, NoMessage>(updates, vec![]).await;
}

#[tokio::test]
async fn relay_pfe() {
    let to_pfe = vec![RelayToPfe::NatLook(NatLookRequest {
        request_id: 7,
        proto: IpProto::Udp,
        client: "192.0.2.1:40000".parse().unwrap(),
        listen: "[2001:db8::1]:5353".parse().unwrap(),
    })];
    let to_relay = vec![
        PfeToRelay::NatLook(NatLookAnswer {
            request_id: 7,
            result: NatLookResult::Destination("198.51.100.53:53".parse().unwrap()),
        }),
        PfeToRelay::NatLook(NatLookAnswer {
            request_id: 8,
            result: NatLookResult::NoEntry,
        }),
        PfeToRelay::NatLook(NatLookAnswer {
            request_id: 9,
            result: NatLookResult::Failed("conntrack: not permitted".into()),
        }),
    ];
    round_trip(to_pfe, to_relay).await;
}

#[tokio::test]
async fn relay_ca() {
    let to_ca = vec![
        RelayToCa::KeyOperation(KeyOperation {
            request_id: 1,
            key_id: [7; 32],
            scheme: 0x0804,
            message: vec![1, 2, 3],
        }),
        RelayToCa::KeyOperation(KeyOperation {
            request_id: 2,
            key_id: [8; 32],
            scheme: 0x0403,
            message: vec![0; 256],
        }),
    ];
    let to_relay = vec![
        CaToRelay::KeyOperationResult(KeyOperationResult {
            request_id: 1,
            result: Ok(vec![9; 64]),
        }),
        CaToRelay::KeyOperationResult(KeyOperationResult {
            request_id: 2,
            result: Err("no such key".into()),
        }),
    ];
    round_trip(to_ca, to_relay).await;
}

#[tokio::test]
async fn control() {
    let id_name = || IdName {
        id: 1,
        name: "web:80".into(),
    };
    let requests = vec![
        ControlRequest::Hello { version: 1 },
        ControlRequest::ShowSummary,
        ControlRequest::ShowHosts,
        ControlRequest::ShowRedirects,
        ControlRequest::ShowRelays,
        ControlRequest::ShowRouters,
        ControlRequest::ShowSessions,
        ControlRequest::HostEnable(Target::Id(1)),
        ControlRequest::HostDisable(Target::Name("10.0.0.1".into())),
        ControlRequest::TableEnable(Target::Name("web:80".into())),
        ControlRequest::TableDisable(Target::Id(1)),
        ControlRequest::RedirectEnable(Target::Id(1)),
        ControlRequest::RedirectDisable(Target::Name("www".into())),
        ControlRequest::Reload,
        ControlRequest::Load("/etc/relayd.conf".into()),
        ControlRequest::Poll,
        ControlRequest::Monitor,
        ControlRequest::LogBrief,
        ControlRequest::LogVerbose,
        ControlRequest::Shutdown,
        ControlRequest::RouterEnable(Target::Name("uplinks".into())),
        ControlRequest::RouterDisable(Target::Id(1)),
        ControlRequest::Drain { seconds: None },
        ControlRequest::Drain { seconds: Some(30) },
        ControlRequest::ShowMetrics,
        ControlRequest::TableAdd {
            table: Target::Name("web:80".into()),
            host: "10.0.0.7".into(),
        },
        ControlRequest::TableRemove {
            table: Target::Id(2),
            host: Target::Id(9),
        },
    ];
    let replies = vec![
        ControlReply::Hello { version: 1 },
        ControlReply::Redirect(RedirectRow {
            id: 1,
            name: "www".into(),
            state: RedirectState::Active,
            stats: Some(statistics()),
        }),
        ControlReply::Table(TableRow {
            id: 1,
            name: "web:80".into(),
            disabled: false,
            up_hosts: 1,
        }),
        ControlReply::Host(HostRow {
            name: "10.0.0.2".into(),
            parent_id: Some(1),
            disabled: false,
            status: host_status(),
        }),
        ControlReply::Relay(RelayRow {
            id: 1,
            name: "httpproxy".into(),
            disabled: false,
            stats: vec![statistics(), statistics()],
        }),
        ControlReply::Router(RouterRow {
            id: 1,
            name: "uplinks".into(),
            disabled: false,
            rtable: Some(1),
            rtlabel: None,
            routes: router().routes,
        }),
        ControlReply::Session(session()),
        ControlReply::Ok,
        ControlReply::Failed("no such host".into()),
        ControlReply::End,
        ControlReply::Event(MonitorEvent::HostStatus(host_status())),
        ControlReply::Metrics("# TYPE relayd_host_up gauge\nrelayd_host_up 1\n".into()),
    ];
    round_trip(requests, replies).await;

    let events = vec![
        MonitorEvent::HostStatus(host_status()),
        MonitorEvent::RedirectDisabled(id_name()),
        MonitorEvent::RedirectEnabled(id_name()),
        MonitorEvent::TableDisabled(id_name()),
        MonitorEvent::TableEnabled(id_name()),
        MonitorEvent::HostDisabled(id_name()),
        MonitorEvent::HostEnabled(id_name()),
        MonitorEvent::TableChanged(id_name()),
        MonitorEvent::Sync,
        MonitorEvent::RouterDisabled(id_name()),
        MonitorEvent::RouterEnabled(id_name()),
    ];
    let wrapped: Vec<ControlReply> = events.into_iter().map(ControlReply::Event).collect();
    let (mut server, mut client) = ImsgChannel::<ControlReply, ControlRequest>::pair().unwrap();
    for reply in &wrapped {
        server.send(reply, None).await.unwrap();
    }
    drop(server);
    let mut got = Vec::new();
    while let Some(received) = client.recv().await.unwrap() {
        got.push(received.msg);
    }
    assert_eq!(got, wrapped);
    assert_eq!(variant_count::<MonitorEvent>() as usize, got.len());
}

#[test]
fn config_parts_reassemble_to_the_kinds_wanted() {
    let config = config();
    let everything = config_parts(&config, &PartKind::ALL);
    assert_eq!(everything.len(), variant_count::<ConfigPart>() as usize);
    let mut assembler = ConfigAssembler::new();
    assembler.add(ConfigPart::Table(table()));
    assembler.reset();
    for part in everything {
        assembler.add(part);
    }
    assert_eq!(assembler.finish(), config);
    assert_eq!(assembler.finish(), relayd_config::Config::default());

    let wanted = [PartKind::Global, PartKind::Protocol, PartKind::Relay];
    let parts = config_parts(&config, &wanted);
    assert!(matches!(parts[0], ConfigPart::Global(_)), "global first");
    assert!(parts.iter().all(|part| wanted.contains(&part.kind())));
    for part in parts {
        assembler.add(part);
    }
    let got = assembler.finish();
    assert_eq!(got.global, config.global);
    assert_eq!(
        (got.relays, got.protocols),
        (config.relays.clone(), config.protocols.clone())
    );
    assert!(got.tables.is_empty() && got.redirects.is_empty() && got.routers.is_empty());
}

#[tokio::test]
async fn descriptors_arrive_with_their_message_and_work() {
    let (mut parent, mut relay) =
        ImsgChannel::<ToChild<ParentToRelay>, ToParent<RelayToParent>>::pair().unwrap();

    // A pipe: the relay writes through the write end it receives.
    let (pipe_read, pipe_write) = nix::unistd::pipe().unwrap();
    // A listener: the relay's copy must be the same socket.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen_addr: SocketAddr = listener.local_addr().unwrap();

    parent
        .send(
            &ToChild::Lifecycle(Lifecycle::Start { generation: 1 }),
            None,
        )
        .await
        .unwrap();
    parent
        .send(
            &ToChild::Engine(ParentToRelay::RelayFile(relay_file(
                RelayFileKind::Certificate,
            ))),
            Some(pipe_write),
        )
        .await
        .unwrap();
    parent
        .send(
            &ToChild::Engine(ParentToRelay::ListenSocket(ListenSocket {
                relay_id: 1,
                index: 0,
                addr: listen_addr,
                tls: false,
            })),
            Some(listener.into()),
        )
        .await
        .unwrap();

    let start = relay.recv().await.unwrap().unwrap();
    assert!(start.fd.is_none() && !start.header.has_fd());

    let file = relay.recv().await.unwrap().unwrap();
    assert!(matches!(
        file.msg,
        ToChild::Engine(ParentToRelay::RelayFile(_))
    ));
    let fd = file.fd.expect("pipe end");
    let fd_flags =
        nix::fcntl::fcntl(std::os::fd::AsRawFd::as_raw_fd(&fd), nix::fcntl::F_GETFD).unwrap();
    assert!(
        fd_flags & libc::FD_CLOEXEC != 0,
        "received fds are close-on-exec"
    );
    let mut writer = std::fs::File::from(fd);
    writer.write_all(b"through the passed fd").unwrap();
    drop(writer);
    let mut text = String::new();
    std::fs::File::from(pipe_read)
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "through the passed fd");

    let listen = relay.recv().await.unwrap().unwrap();
    let ToChild::Engine(ParentToRelay::ListenSocket(info)) = &listen.msg else {
        panic!("expected ListenSocket, got {:?}", listen.msg);
    };
    let received = std::net::TcpListener::from(listen.fd.expect("listener"));
    assert_eq!(received.local_addr().unwrap(), info.addr);
    let client = std::net::TcpStream::connect(info.addr).unwrap();
    let (_, peer) = received.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
}
