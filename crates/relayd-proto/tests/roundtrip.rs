//! Every message of every channel crosses a real socketpair and comes back
//! equal, with the variant index in the header; the test fails when a new
//! variant has no sample here. Descriptors are checked by using them.

mod support;

use relayd_config::IpProto;
use relayd_proto::config_sync::{config_parts, ConfigAssembler, ConfigPart};
use relayd_proto::control::{ControlReply, ControlRequest, IdName, MonitorEvent, Target};
use relayd_proto::messages::hce_pfe::HceToPfe;
use relayd_proto::messages::hce_relay::HceToRelay;
use relayd_proto::messages::parent_ca::{CaToParent, ParentToCa};
use relayd_proto::messages::parent_hce::{HceToParent, ParentToHce};
use relayd_proto::messages::parent_pfe::{ParentToPfe, PfeToParent, RedirectReport};
use relayd_proto::messages::parent_relay::{ParentToRelay, RelayToParent};
use relayd_proto::messages::pfe_relay::{PfeToRelay, RelayToPfe};
use relayd_proto::messages::relay_ca::{CaToRelay, RelayToCa};
use relayd_proto::messages::*;
use relayd_proto::status::*;
use relayd_proto::{ImsgChannel, ProcessKind};
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
        last_error: Some("tcp connect timeout".into()),
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
        kind,
        name: "www.example.org".into(),
    }
}

fn every_config_message<T>(wrap: fn(ConfigPart) -> T) -> Vec<T> {
    config_parts(&config(), ProcessKind::Parent)
        .into_iter()
        .map(wrap)
        .collect()
}

/// Sends `a_to_b` from one end and `b_to_a` from the other, at the same
/// time, and checks both arrive intact and cover every variant.
async fn round_trip<A, B>(a_to_b: Vec<A>, b_to_a: Vec<B>)
where
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
        (0..variant_count::<A>()).collect(),
        "every variant of {} needs a sample",
        std::any::type_name::<A>()
    );
    let kinds_at_a: BTreeSet<u32> = at_a.iter().map(|r| r.header.kind).collect();
    assert_eq!(
        kinds_at_a,
        (0..variant_count::<B>()).collect(),
        "every variant of {} needs a sample",
        std::any::type_name::<B>()
    );
}

#[tokio::test]
async fn parent_hce() {
    let mut to_hce = vec![ParentToHce::Reset];
    to_hce.extend(every_config_message(ParentToHce::Config));
    to_hce.extend([
        ParentToHce::ConfigDone,
        ParentToHce::Start,
        ParentToHce::HostEnable(1),
        ParentToHce::HostDisable(2),
        ParentToHce::TableEnable(1),
        ParentToHce::TableDisable(1),
        ParentToHce::Poll,
        ParentToHce::SetVerbose(2),
        ParentToHce::ScriptResult(ScriptResult {
            host_id: 1,
            table_id: 1,
            retval: -1,
        }),
        ParentToHce::PeerChannel(peer()),
        ParentToHce::Shutdown,
        ParentToHce::IcmpSocket(IcmpFamily::V4),
        ParentToHce::IcmpSocket(IcmpFamily::V6),
    ]);
    let to_parent = vec![
        HceToParent::Ready,
        HceToParent::ConfigDone,
        HceToParent::HostStatus(host_status()),
        HceToParent::Sync,
        HceToParent::RunScript(ScriptRequest {
            host_id: 1,
            table_id: 1,
            path: "/usr/local/bin/check".into(),
            host_name: "10.0.0.1".into(),
            timeout_ms: 200,
        }),
    ];
    round_trip(to_hce, to_parent).await;
}

#[tokio::test]
async fn parent_pfe() {
    let mut to_pfe = vec![ParentToPfe::Reset];
    to_pfe.extend(every_config_message(ParentToPfe::Config));
    to_pfe.extend([
        ParentToPfe::ConfigDone,
        ParentToPfe::Start,
        ParentToPfe::HostEnable(1),
        ParentToPfe::HostDisable(1),
        ParentToPfe::TableEnable(1),
        ParentToPfe::TableDisable(1),
        ParentToPfe::RedirectEnable(1),
        ParentToPfe::RedirectDisable(1),
        ParentToPfe::SetVerbose(0),
        ParentToPfe::PeerChannel(peer()),
        ParentToPfe::Shutdown,
    ]);
    let to_parent = vec![
        PfeToParent::Ready,
        PfeToParent::ConfigDone,
        PfeToParent::Redirect(RedirectReport {
            redirect_id: 1,
            state: RedirectState::ActiveBackup,
            stats: statistics(),
        }),
        PfeToParent::TableChanged(1),
        PfeToParent::Error("nft: no such table".into()),
    ];
    round_trip(to_pfe, to_parent).await;
}

#[tokio::test]
async fn parent_relay() {
    let mut to_relay = vec![ParentToRelay::Reset];
    to_relay.extend(every_config_message(ParentToRelay::Config));
    to_relay.extend([
        ParentToRelay::ConfigDone,
        ParentToRelay::Start,
        ParentToRelay::HostEnable(1),
        ParentToRelay::HostDisable(1),
        ParentToRelay::TableEnable(1),
        ParentToRelay::TableDisable(1),
        ParentToRelay::SetVerbose(1),
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
        ParentToRelay::BindAnyResult(BindAnyResult {
            request_id: 9,
            error: Some("EPERM".into()),
        }),
        ParentToRelay::ListSessions { request_id: 3 },
        ParentToRelay::PeerChannel(peer()),
        ParentToRelay::Shutdown,
    ]);
    let to_parent = vec![
        RelayToParent::Ready,
        RelayToParent::ConfigDone,
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
    ];
    round_trip(to_relay, to_parent).await;
}

#[tokio::test]
async fn parent_ca() {
    let mut to_ca = vec![ParentToCa::Reset];
    to_ca.extend(every_config_message(ParentToCa::Config));
    to_ca.extend([
        ParentToCa::ConfigDone,
        ParentToCa::Start,
        ParentToCa::RelayFile(relay_file(RelayFileKind::Key)),
        ParentToCa::SetVerbose(0),
        ParentToCa::PeerChannel(PeerChannel {
            peer: ProcessKind::Relay,
            instance: 2,
        }),
        ParentToCa::Shutdown,
    ]);
    round_trip(to_ca, vec![CaToParent::Ready, CaToParent::ConfigDone]).await;
}

#[tokio::test]
async fn hce_to_pfe_and_relay() {
    let updates = vec![HceToPfe::HostStatus(host_status()), HceToPfe::Sync];
    round_trip::<HceToPfe, NoMessage>(updates, vec![]).await;
    let updates = vec![HceToRelay::HostStatus(host_status()), HceToRelay::Sync];
    round_trip::<HceToRelay, NoMessage>(updates, vec![]).await;
}

#[tokio::test]
async fn pfe_relay() {
    let to_relay = vec![PfeToRelay::HostStatus(host_status()), PfeToRelay::Sync];
    let to_pfe = vec![
        RelayToPfe::Statistics(statistics()),
        RelayToPfe::SessionPublish(session()),
        RelayToPfe::SessionUnpublish {
            process: 1,
            session_id: 42,
        },
    ];
    round_trip(to_relay, to_pfe).await;
}

#[tokio::test]
async fn relay_ca() {
    let to_ca = vec![
        RelayToCa::KeyOperation(KeyOperation {
            request_id: 1,
            relay_id: 1,
            keypair: "www.example.org".into(),
            op: KeyOp::Sign { scheme: 0x0804 },
            data: vec![1, 2, 3],
        }),
        RelayToCa::KeyOperation(KeyOperation {
            request_id: 2,
            relay_id: 1,
            keypair: "www.example.org".into(),
            op: KeyOp::PrivateDecrypt { padding: 1 },
            data: vec![0; 256],
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
fn config_parts_reassemble_to_what_each_process_needs() {
    let config = config();
    for process in ProcessKind::ALL {
        let mut assembler = ConfigAssembler::new();
        assembler.add(ConfigPart::Table(table()));
        assembler.reset();
        for part in config_parts(&config, process) {
            assembler.add(part);
        }
        let got = assembler.finish();
        assert_eq!(got.global, config.global, "{process}");
        let has = |present: bool, kinds: &[ProcessKind]| present == kinds.contains(&process);
        use ProcessKind::*;
        assert!(
            has(!got.tables.is_empty(), &[Parent, Hce, Pfe, Relay]),
            "{process}"
        );
        assert!(has(!got.redirects.is_empty(), &[Parent, Pfe]), "{process}");
        assert!(
            has(!got.relays.is_empty(), &[Parent, Relay, Ca]),
            "{process}"
        );
        assert!(
            has(!got.protocols.is_empty(), &[Parent, Relay, Ca]),
            "{process}"
        );
        assert!(has(!got.routers.is_empty(), &[Parent, Pfe]), "{process}");
        if process == Parent {
            assert_eq!(got, config);
        }
        assert_eq!(assembler.finish(), relayd_config::Config::default());
    }
    assert_eq!(
        variant_count::<ConfigPart>() as usize,
        config_parts(&config, ProcessKind::Parent).len()
    );
}

#[tokio::test]
async fn descriptors_arrive_with_their_message_and_work() {
    let (mut parent, mut relay) = ImsgChannel::<ParentToRelay, RelayToParent>::pair().unwrap();

    // A pipe: the relay writes through the write end it receives.
    let (pipe_read, pipe_write) = nix::unistd::pipe().unwrap();
    // A listener: the relay's copy must be the same socket.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen_addr: SocketAddr = listener.local_addr().unwrap();

    parent.send(&ParentToRelay::Start, None).await.unwrap();
    parent
        .send(
            &ParentToRelay::RelayFile(relay_file(RelayFileKind::Certificate)),
            Some(pipe_write),
        )
        .await
        .unwrap();
    parent
        .send(
            &ParentToRelay::ListenSocket(ListenSocket {
                relay_id: 1,
                index: 0,
                addr: listen_addr,
                tls: false,
            }),
            Some(listener.into()),
        )
        .await
        .unwrap();

    let start = relay.recv().await.unwrap().unwrap();
    assert!(start.fd.is_none() && !start.header.has_fd());

    let file = relay.recv().await.unwrap().unwrap();
    assert!(matches!(file.msg, ParentToRelay::RelayFile(_)));
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
    let ParentToRelay::ListenSocket(info) = &listen.msg else {
        panic!("expected ListenSocket, got {:?}", listen.msg);
    };
    let received = std::net::TcpListener::from(listen.fd.expect("listener"));
    assert_eq!(received.local_addr().unwrap(), info.addr);
    let client = std::net::TcpStream::connect(info.addr).unwrap();
    let (_, peer) = received.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
}
