//! HTTP relays (`http protocol`): each client connection is one session
//! paired with one backend connection for its life (no pooling across
//! clients, as relayd). Every request is parsed and checked, goes through
//! the protocol's filter rules and is forwarded with its body streaming;
//! an allowed Upgrade (`http websockets`) turns the session into a raw
//! byte relay. The HTTP/1.1 engine is our own, on httparse: one task per
//! session, heads forwarded from the read buffer unless a rule rewrote
//! them, so a request costs one read and one write on each side.
//!
//! Module map: `proxy` (the session, request after request), `head`
//! (parsing and strict framing), `message` (moving a head and its body),
//! `chunked` (following chunked framing), `wire` (a socket and its read
//! buffer), `edit` (heads the rules rewrite), `backend` (choosing and
//! connecting the backend), `rules` (filter rules), `glob` (their
//! patterns), `variables` (`$HOST` and friends), `error_page` (relayd's
//! `return error` page).

mod backend;
mod chunked;
mod edit;
mod error_page;
mod glob;
mod head;
mod message;
mod proxy;
mod rules;
mod variables;
mod wire;

use super::engine::Engine;
use super::plan::RelayPlan;
use super::session::{finish, ActivityClock, Outcome};
use proxy::Proxy;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use wire::Wire;

/// An accepted HTTP session, not yet connected to any backend.
pub struct Accepted {
    pub id: u32,
    pub plan: Arc<RelayPlan>,
    pub peer: SocketAddr,
    pub listen: SocketAddr,
    pub clock: Arc<ActivityClock>,
}

/// Serves one client connection until it ends, then unregisters the
/// session.
pub async fn relay(engine: Arc<Engine>, session: Accepted, client: TcpStream) {
    let Accepted {
        id,
        plan,
        peer,
        listen,
        clock,
    } = session;
    let mut proxy = Proxy::new(
        engine.clone(),
        plan.clone(),
        id,
        peer,
        listen,
        clock,
        Wire::new(client),
    );
    let ended = proxy.run().await;
    let outcome = match proxy.backend_addr() {
        Some(addr) => Outcome::Relayed(addr, ended),
        None => Outcome::Unrouted(ended),
    };
    drop(proxy);
    finish(&engine, &plan, id, peer, &outcome);
}
