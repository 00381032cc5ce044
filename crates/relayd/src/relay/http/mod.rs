//! HTTP relays (`http protocol`): each client connection is one session
//! with one backend connection at a time. With `http { reuse }` (the
//! default) a session done with a cleanly used backend connection leaves
//! it in the process's pool for the next session (`pool.rs`); with
//! `no reuse` a client connection keeps its own backend connection, as
//! relayd. Every request is parsed and checked, goes through
//! the protocol's filter rules and is forwarded with its body streaming;
//! an allowed Upgrade (`http websockets`) turns the session into a raw
//! byte relay. The HTTP/1.1 engine is our own, on httparse: one task per
//! session, heads forwarded from the read buffer unless a rule rewrote
//! them, so a request costs one read and one write on each side.
//!
//! Module map: `plan` (what an `http protocol` adds to the relay's plan),
//! `proxy` (the session, request after request), `exchange` (one request
//! and its answer, with the chosen backend), `message` (moving a head and
//! its body), `wire` (a transport and its read buffer), `buffer` (read
//! buffers kept for the next wire), `filter`
//! (the rules on one head), `edit` (heads the rules rewrite), `backend`
//! (choosing and connecting the backend), `rules` (filter rules), `glob`
//! (their patterns), `variables` (`$HOST` and friends), `error_page`
//! (relayd's `return error` page), `refusal` (why the relay ended a
//! session), `pool` (idle backend connections shared between sessions,
//! `http { reuse }`), `connection` (the request's `Connection: close`
//! kept from a pooled backend), `spliced` (body bytes with splice(2)).
//! Parsing heads and request targets and
//! following chunked framing are the `relayd-http` crate's (`head`,
//! `target`, `chunked`).

mod backend;
mod buffer;
mod connection;
mod edit;
mod error_page;
mod exchange;
mod filter;
mod glob;
mod message;
mod plan;
pub mod pool;
mod proxy;
mod refusal;
mod replay;
mod rules;
mod spliced;
mod tunnel;
mod variables;
mod wire;

#[cfg(test)]
mod testing;

// Heads, targets and chunked framing: the relayd-http crate.
use relayd_http::{chunked, head};

pub use plan::HttpPlan;
pub use refusal::Refusal;

use crate::relay::core::clock::ActivityClock;
use crate::relay::core::end::{finish, Ended, Outcome};
use crate::relay::core::park::{ParkError, ParkedSession};
use crate::relay::core::session::{Accepted, Connected, Resume};
use crate::relay::core::shared::Shared;
use crate::relay::core::stream::Transport;
use backend::Link;
use proxy::Proxy;
use rules::Marks;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

/// What a parked HTTP session keeps besides its sockets.
pub struct Between {
    http: Arc<HttpPlan>,
    listen: SocketAddr,
    marks: Marks,
    /// The backend connection may serve another request (see `Link`).
    reusable: bool,
    poolable: bool,
}

/// Serves one client connection until it ends or is parked.
pub async fn serve(shared: Arc<Shared>, session: Accepted, http: Arc<HttpPlan>, client: Transport) {
    let proxy = Proxy::new(shared.clone(), session, http, client);
    run(shared, proxy).await;
}

/// Continues a parked HTTP session that has something to read; `client`
/// is its socket as the parking lot kept it (`Transport::Fresh`).
pub async fn resume(
    shared: Arc<Shared>,
    session: Connected,
    between: Between,
    client: Transport,
    server: TcpStream,
    clock: Arc<ActivityClock>,
) {
    let Connected {
        id,
        plan,
        peer,
        backend,
    } = session;
    let mut link = Link::new(&plan, Transport::Tcp(server), backend);
    (link.reusable, link.poolable) = (between.reusable, between.poolable);
    let session = Accepted {
        id,
        plan,
        peer,
        listen: between.listen,
        clock,
        preconnected: None,
        sni: None,
    };
    let proxy =
        Proxy::new(shared.clone(), session, between.http, client).resumed(link, between.marks);
    run(shared, proxy).await;
}

async fn run(shared: Arc<Shared>, mut proxy: Proxy) {
    let ended = proxy.run().await;
    let (plan, id, peer) = (proxy.plan.clone(), proxy.id, proxy.peer);
    let outcome = match (ended, proxy.backend.take()) {
        (Ended::Parked, Some(link)) => match park(proxy, link) {
            Ok(parked) => return shared.park(parked),
            Err((addr, e)) => Outcome::Relayed(addr, Ended::Park(e)),
        },
        (Ended::Done, Some(link)) => {
            let addr = link.backend.addr;
            proxy.release(link);
            Outcome::Relayed(addr, Ended::Done)
        }
        (ended, Some(link)) => Outcome::Relayed(link.backend.addr, ended),
        (ended, None) => Outcome::Unrouted(ended),
    };
    finish(&shared, &plan, id, peer, &outcome);
}

/// The session as the parking lot keeps it: two sockets out of the
/// runtime, and what the next request needs.
fn park(proxy: Proxy, link: Link) -> Result<ParkedSession, (SocketAddr, ParkError)> {
    let addr = link.backend.addr;
    let (reusable, poolable) = (link.reusable, link.poolable);
    let (client, server) = match (proxy.client.stream, link.wire.stream) {
        (Transport::Tcp(client), Transport::Tcp(server)) => (client.into_std(), server),
        // Never registered: nothing to take back from the runtime.
        (Transport::Fresh(client), Transport::Tcp(server)) => (client.into_std(), server),
        // The proxy only rests long enough to park with two plain sides.
        _ => return Err((addr, ParkError::NotPlain)),
    };
    let deregistered = client.and_then(|c| Ok((c, server.into_std()?)));
    let (client, server) = deregistered.map_err(|e| (addr, ParkError::Deregister(e)))?;
    Ok(ParkedSession {
        session: Connected {
            id: proxy.id,
            plan: proxy.plan,
            peer: proxy.peer,
            backend: link.backend,
        },
        client,
        server,
        started: proxy.clock.started(),
        last: proxy.clock.last_active(),
        resume: Resume::Http(Between {
            http: proxy.http,
            listen: proxy.listen,
            marks: proxy.marks,
            reusable,
            poolable,
        }),
    })
}
