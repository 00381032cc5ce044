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

use crate::relay::core::park::ParkedSession;
use crate::relay::core::plan::RelayPlan;
use crate::relay::core::session::{finish, ActivityClock, Connected, Outcome};
use crate::relay::core::shared::Shared;
use crate::relay::tcp::pump::Ended;
use backend::Link;
use proxy::Proxy;
use rules::Marks;
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

/// What a parked HTTP session keeps besides its sockets.
pub struct Between {
    listen: SocketAddr,
    marks: Marks,
}

/// Serves one client connection until it ends or is parked.
pub async fn relay(shared: Arc<Shared>, session: Accepted, client: TcpStream) {
    let proxy = proxy(&shared, session, client);
    serve(shared, proxy).await;
}

/// Continues a parked HTTP session that has something to read.
pub async fn resume(shared: Arc<Shared>, parked: ParkedSession, between: Between) {
    let ParkedSession {
        session,
        client,
        server,
        started,
        last,
        ..
    } = parked;
    let Connected {
        id,
        plan,
        peer,
        backend,
    } = session;
    let streams = TcpStream::from_std(client).and_then(|c| Ok((c, TcpStream::from_std(server)?)));
    let (client, server) = match streams {
        Ok(streams) => streams,
        Err(e) => {
            let outcome = Outcome::Relayed(backend.addr, Ended::ServerRead(e));
            return finish(&shared, &plan, id, peer, &outcome);
        }
    };
    let clock = Arc::new(ActivityClock::resumed(started, last));
    shared.resume_session(id, clock.clone());
    let link = Link::new(&plan, server, backend);
    let session = Accepted {
        id,
        plan,
        peer,
        listen: between.listen,
        clock,
    };
    let proxy = proxy(&shared, session, client).resumed(link, between.marks);
    serve(shared, proxy).await;
}

fn proxy(shared: &Arc<Shared>, session: Accepted, client: TcpStream) -> Proxy {
    let client = Wire::new(
        client,
        session.plan.tcp.nodelay,
        session.plan.session_timeout,
    );
    Proxy::new(
        shared.clone(),
        session.plan,
        session.id,
        session.peer,
        session.listen,
        session.clock,
        client,
    )
}

async fn serve(shared: Arc<Shared>, mut proxy: Proxy) {
    let ended = proxy.run().await;
    let (plan, id, peer) = (proxy.plan.clone(), proxy.session, proxy.peer);
    let outcome = match (ended, proxy.backend.take()) {
        (Ended::Parked, Some(link)) => match park(proxy, link) {
            Ok(parked) => return shared.park(parked),
            Err((addr, e)) => Outcome::Relayed(addr, Ended::Park(e)),
        },
        (ended, Some(link)) => Outcome::Relayed(link.backend.addr, ended),
        (ended, None) => Outcome::Unrouted(ended),
    };
    finish(&shared, &plan, id, peer, &outcome);
}

/// The session as the parking lot keeps it: two sockets out of the
/// runtime, and what the next request needs.
fn park(proxy: Proxy, link: Link) -> Result<ParkedSession, (SocketAddr, std::io::Error)> {
    let addr = link.backend.addr;
    let client = proxy.client.stream.into_std().map_err(|e| (addr, e))?;
    let server = link.wire.stream.into_std().map_err(|e| (addr, e))?;
    Ok(ParkedSession {
        session: Connected {
            id: proxy.session,
            plan: proxy.plan,
            peer: proxy.peer,
            backend: link.backend,
        },
        client,
        server,
        started: proxy.clock.started(),
        last: proxy.clock.last_active(),
        http: Some(Between {
            listen: proxy.listen,
            marks: proxy.marks,
        }),
    })
}
