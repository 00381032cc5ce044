//! Helpers for the HTTP unit tests: plans, sides over in-memory streams,
//! a proxy whose client (and backend) are in-memory streams.

use super::backend::Link;
use super::plan::HttpPlan;
use super::proxy::Proxy;
use super::rules::Marks;
use super::wire::Wire;
use crate::relay::core::clock::ActivityClock;
use crate::relay::core::plan::{ProtocolPlan, RelayPlan};
use crate::relay::core::session::Accepted;
use crate::relay::core::shared::{Backend, Shared};
use crate::relay::core::stream::Transport;
use crate::relay::core::testing;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::DuplexStream;

/// Room in each direction of an in-memory stream: more than any test
/// message, so writes only wait where a test wants them to.
pub const ROOM: usize = 1 << 20;

/// Relay `r` with `http protocol p { PROTOCOL }` and `forward`.
pub fn plans(protocol: &str, forward: &str) -> (Arc<RelayPlan>, Arc<HttpPlan>) {
    split(testing::plan(
        &format!("http protocol p {{\n{protocol}\n}}"),
        forward,
    ))
}

/// HTTP relay `r` of `config` (relayd.conf text).
pub fn plans_of(config: &str) -> (Arc<RelayPlan>, Arc<HttpPlan>) {
    split(testing::plan_of(config))
}

fn split(plan: Arc<RelayPlan>) -> (Arc<RelayPlan>, Arc<HttpPlan>) {
    match &plan.protocol {
        ProtocolPlan::Http(http) => {
            let http = http.clone();
            (plan, http)
        }
        ProtocolPlan::Tcp(_) | ProtocolPlan::Dns(_) => panic!("relay r is not an HTTP relay"),
    }
}

/// A side over an in-memory stream, and the peer's end of it.
pub fn wire(room: usize) -> (Wire, DuplexStream) {
    let (ours, theirs) = tokio::io::duplex(room);
    let stream = Transport::Layered(Box::new(ours));
    (Wire::new(stream, None, Duration::from_secs(5)), theirs)
}

pub fn client_addr() -> SocketAddr {
    "127.0.0.2:40000".parse().expect("address")
}

pub fn listen_addr() -> SocketAddr {
    "127.0.0.1:8080".parse().expect("address")
}

pub fn backend_addr() -> SocketAddr {
    "127.0.0.3:80".parse().expect("address")
}

/// A proxy for a client on an in-memory stream (the test's end is
/// returned), registered in `shared` as a session of `plan`.
pub fn proxy(
    shared: &Arc<Shared>,
    plan: Arc<RelayPlan>,
    http: Arc<HttpPlan>,
) -> (Proxy, DuplexStream) {
    let (ours, theirs) = tokio::io::duplex(ROOM);
    let clock = Arc::new(ActivityClock::new());
    let id = shared.open_session(plan.id, client_addr(), clock.clone());
    let session = Accepted {
        id,
        plan,
        peer: client_addr(),
        listen: listen_addr(),
        clock,
        preconnected: None,
        sni: None,
    };
    let client = Transport::Layered(Box::new(ours));
    (Proxy::new(shared.clone(), session, http, client), theirs)
}

/// As [`proxy`], already linked to a backend on an in-memory stream (the
/// backend's end is returned too), as a session back from the lot is.
pub fn linked_proxy(
    shared: &Arc<Shared>,
    plan: Arc<RelayPlan>,
    http: Arc<HttpPlan>,
) -> (Proxy, DuplexStream, DuplexStream) {
    let (ours, backend) = tokio::io::duplex(ROOM);
    let link = Link::new(
        &plan,
        Transport::Layered(Box::new(ours)),
        Backend {
            addr: backend_addr(),
            host: None,
        },
    );
    let (proxy, client) = proxy(shared, plan, http);
    (proxy.resumed(link, Marks::default()), client, backend)
}
