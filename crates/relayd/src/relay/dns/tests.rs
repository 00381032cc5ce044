//! The dns relay over real UDP sockets on 127.0.0.1: a test client, the
//! relay's handler on a listening socket, and a backend socket the test
//! answers through by hand (the e2e tests use unbound and dig).

use super::*;
use crate::relay::core::plan::{ProtocolPlan, Target};
use crate::relay::core::testing;
use std::time::Duration;
use tokio::net::UdpSocket;

const WAIT: Duration = Duration::from_secs(5);

/// A query for `a.test. A` with `id`.
fn query(id: u16) -> Vec<u8> {
    let mut message = id.to_be_bytes().to_vec();
    message.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    message.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
    message
}

/// The answer to `query` with `id` and one byte of "data".
fn answer(query: &[u8], id: u16, data: u8) -> Vec<u8> {
    let mut message = query.to_vec();
    message[..2].copy_from_slice(&id.to_be_bytes());
    message[2] |= 0x80;
    message.push(data);
    message
}

fn id_of(message: &[u8]) -> u16 {
    u16::from_be_bytes([message[0], message[1]])
}

struct Bench {
    shared: Arc<Shared>,
    dns: DnsPlan,
    listen: SocketAddr,
    backend: UdpSocket,
    client: UdpSocket,
    task: JoinHandle<()>,
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A dns relay forwarding to a backend socket of the test's, with
/// `options` on the relay (session timeout...) and a table of `limit`.
async fn bench(options: &str, limit: usize) -> Bench {
    let backend = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let forward = format!(
        "{options}\nforward to 127.0.0.1 port {}",
        backend.local_addr().unwrap().port()
    );
    bench_of(
        testing::plan("dns protocol p { }", &forward),
        backend,
        limit,
    )
    .await
}

/// Relay `plan` with a table of `limit`; `backend` is the test's socket.
async fn bench_of(plan: Arc<RelayPlan>, backend: UdpSocket, limit: usize) -> Bench {
    let mut plan = (*plan).clone();
    let dns = DnsPlan::with_limit(limit);
    assert!(matches!(plan.protocol, ProtocolPlan::Dns(_)));
    plan.protocol = ProtocolPlan::Dns(dns.clone());
    let shared = testing::shared();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = socket.local_addr().unwrap();
    let task = start(
        shared.clone(),
        Arc::new(plan),
        &dns,
        listen,
        OwnedFd::from(socket),
    )
    .unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    Bench {
        shared,
        dns,
        listen,
        backend,
        client,
        task,
    }
}

impl Bench {
    /// The client sends `message`; what reaches the backend, and from where.
    async fn ask(&self, message: &[u8]) -> (Vec<u8>, SocketAddr) {
        self.client.send_to(message, self.listen).await.unwrap();
        let mut buffer = vec![0u8; 1500];
        let (len, from) = tokio::time::timeout(WAIT, self.backend.recv_from(&mut buffer))
            .await
            .expect("the query reaches the backend")
            .unwrap();
        buffer.truncate(len);
        (buffer, from)
    }

    /// What the client receives within `wait`, if anything.
    async fn answer_within(&self, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buffer = vec![0u8; 1500];
        let received = tokio::time::timeout(wait, self.client.recv_from(&mut buffer)).await;
        let (len, from) = received.ok()?.unwrap();
        buffer.truncate(len);
        Some((buffer, from))
    }

    async fn settled(&self, what: impl Fn(&Bench) -> bool) -> bool {
        for _ in 0..100 {
            if what(self) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

#[tokio::test]
async fn the_backend_sees_another_id_and_the_client_gets_its_own_back() {
    let bench = bench("", 16).await;
    let mut sources = Vec::new();
    for client_id in [0x1234, 0x1234, 0x0001] {
        let sent = query(client_id);
        let (seen, from) = bench.ask(&sent).await;
        assert_ne!(
            id_of(&seen),
            client_id,
            "the client's ID reached the backend"
        );
        assert_ne!(id_of(&seen), 0);
        assert_eq!(&seen[2..], &sent[2..], "only the ID changes");
        assert_eq!(
            bench.shared.session_rows().len(),
            1,
            "a pending query is a session"
        );
        bench
            .backend
            .send_to(&answer(&seen, id_of(&seen), 7), from)
            .await
            .unwrap();
        let (got, answered_from) = bench.answer_within(WAIT).await.expect("an answer");
        assert_eq!(
            answered_from, bench.listen,
            "answers leave through the listener"
        );
        assert_eq!(got, answer(&sent, client_id, 7));
        sources.push(from);
    }
    assert!(
        sources.windows(2).all(|pair| pair[0] != pair[1]),
        "each query leaves from a socket of its own: {sources:?}"
    );
    assert!(bench.settled(|b| b.shared.session_count() == 0).await);
    assert_eq!(bench.dns.drops(), DnsDrops::default());
}

#[tokio::test]
async fn answers_that_were_not_asked_for_never_reach_the_client() {
    let bench = bench("", 16).await;
    let sent = query(0x4242);
    let (seen, from) = bench.ask(&sent).await;
    let id = id_of(&seen);
    // The right ID from another socket; a wrong ID from the backend; a
    // query and a stub from the backend: all dropped, the query waits on.
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    stranger.send_to(&answer(&seen, id, 1), from).await.unwrap();
    let wrong = if id == u16::MAX { 1 } else { id + 1 };
    bench
        .backend
        .send_to(&answer(&seen, wrong, 2), from)
        .await
        .unwrap();
    bench.backend.send_to(&seen, from).await.unwrap();
    bench.backend.send_to(&[1, 2, 3], from).await.unwrap();
    let drops = |b: &Bench| {
        let d = b.dns.drops();
        (d.wrong_source, d.unknown_id, d.malformed)
    };
    assert!(
        bench.settled(|b| drops(b) == (1, 1, 2)).await,
        "{:?}",
        bench.dns.drops()
    );
    assert!(bench
        .answer_within(Duration::from_millis(100))
        .await
        .is_none());
    // The real answer still gets through.
    bench
        .backend
        .send_to(&answer(&seen, id, 3), from)
        .await
        .unwrap();
    let (got, _) = bench.answer_within(WAIT).await.expect("the answer");
    assert_eq!(got, answer(&sent, 0x4242, 3));
}

#[tokio::test]
async fn what_is_no_query_is_dropped_at_the_listener() {
    let bench = bench("", 16).await;
    for junk in [
        &[][..],
        &[0x12],
        &query(5)[..11],
        &answer(&query(5), 5, 0)[..],
    ] {
        bench.client.send_to(junk, bench.listen).await.unwrap();
    }
    assert!(bench.settled(|b| b.dns.drops().malformed == 4).await);
    assert_eq!(bench.shared.session_count(), 0, "no session for junk");
    let mut buffer = [0u8; 64];
    let nothing = tokio::time::timeout(
        Duration::from_millis(100),
        bench.backend.recv_from(&mut buffer),
    );
    assert!(nothing.await.is_err(), "junk reached the backend");
}

#[tokio::test]
async fn a_full_table_drops_its_oldest_query_and_a_silent_backend_times_out() {
    let bench = bench("session timeout 1", 3).await;
    let mut seen = Vec::new();
    for n in 0..5 {
        seen.push(bench.ask(&query(100 + n)).await);
    }
    assert!(bench.settled(|b| b.dns.drops().evicted == 2).await);
    assert_eq!(bench.dns.pending(), 3);
    assert!(bench.settled(|b| b.shared.session_count() == 3).await);
    // The oldest query's socket is closed: its answer goes nowhere.
    let (first, from) = &seen[0];
    bench
        .backend
        .send_to(&answer(first, id_of(first), 0), from)
        .await
        .unwrap();
    assert!(bench
        .answer_within(Duration::from_millis(200))
        .await
        .is_none());
    // The newest still get theirs, then the rest times out.
    let (last, from) = &seen[4];
    bench
        .backend
        .send_to(&answer(last, id_of(last), 9), from)
        .await
        .unwrap();
    let (got, _) = bench.answer_within(WAIT).await.expect("the newest answer");
    assert_eq!(id_of(&got), 104);
    assert!(
        bench.settled(|b| b.dns.drops().timeouts == 2).await,
        "{:?}",
        bench.dns.drops()
    );
    assert_eq!(bench.dns.pending(), 0);
    assert_eq!(bench.shared.session_count(), 0);
}

#[tokio::test]
async fn no_backend_to_ask_is_counted() {
    let text = "table <t> { 127.0.0.2 }\ndns protocol p { }\nrelay r {\n\
                listen on 127.0.0.1 port 1\nprotocol p\nforward to <t> port 53 check tcp\n}\n";
    let backend = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let bench = bench_of(testing::plan_of(text), backend, 4).await;
    // The table's host was never reported up.
    bench.client.send_to(&query(9), bench.listen).await.unwrap();
    let counted = bench
        .settled(|b| b.dns.drops().no_backend == 1 && b.shared.session_count() == 0)
        .await;
    assert!(counted, "{:?}", bench.dns.drops());
}

#[tokio::test]
async fn nat_lookup_without_an_original_destination_is_dropped_and_counted() {
    // No pfe in a unit test: every lookup fails, and without a table the
    // query goes nowhere.
    let backend = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let plan = testing::plan("dns protocol p { }", "forward to nat lookup");
    let bench = bench_of(plan, backend, 4).await;
    bench.client.send_to(&query(9), bench.listen).await.unwrap();
    let counted = bench
        .settled(|b| b.dns.drops().no_destination == 1 && b.shared.session_count() == 0)
        .await;
    assert!(counted, "{:?}", bench.dns.drops());
    assert_eq!(bench.dns.drops().no_backend, 0);
    assert!(bench
        .answer_within(Duration::from_millis(100))
        .await
        .is_none());
}

#[tokio::test]
async fn nat_lookup_falls_back_to_the_relays_table_as_a_tcp_relay_does() {
    let backend = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = backend.local_addr().unwrap().port();
    let text = format!(
        "table <t> {{ 127.0.0.1 }}\ndns protocol p {{ }}\nrelay r {{\n\
         listen on 127.0.0.1 port 1\nprotocol p\nforward to nat lookup\n\
         forward to <t> port {port} check tcp\n}}\n"
    );
    let plan = testing::plan_of(&text);
    let Target::OriginalDestination(tables) = &plan.target else {
        panic!("{:?}", plan.target);
    };
    let host = tables[0].table.hosts[0].id;
    let bench = bench_of(plan.clone(), backend, 4).await;
    bench
        .shared
        .set_host_state(host, relayd_proto::status::HostState::Up);
    let sent = query(0x0707);
    let (seen, from) = bench.ask(&sent).await;
    bench
        .backend
        .send_to(&answer(&seen, id_of(&seen), 5), from)
        .await
        .unwrap();
    let (got, _) = bench.answer_within(WAIT).await.expect("the table's answer");
    assert_eq!(got, answer(&sent, 0x0707, 5));
    assert_eq!(bench.dns.drops(), DnsDrops::default());
}
