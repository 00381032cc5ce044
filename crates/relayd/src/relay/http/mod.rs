//! HTTP relays (`http protocol`): each client connection is served by a
//! hyper HTTP/1.1 server, and every request goes through the protocol's
//! filter rules to the one backend connection paired with that client for
//! its life (no pooling across clients, as relayd). Bodies stream both
//! ways; an allowed Upgrade (`http websockets`) turns the session into a
//! raw byte relay.
//!
//! Module map: `proxy` (one request: checks, rules, forwarding),
//! `backend` (the backend connection and per-request rerouting),
//! `rules` (filter rules), `glob` (their patterns), `variables` (`$HOST`
//! and friends), `error_page` (relayd's `return error` page), `upgrade`
//! (websockets).

mod backend;
mod error_page;
mod glob;
mod proxy;
mod rules;
mod upgrade;
mod variables;

use super::engine::Engine;
use super::plan::RelayPlan;
use super::pump::Ended;
use super::session::{finish, Connected, Outcome};
use hyper::server::conn::http1 as server_http1;
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use proxy::Proxy;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// hyper refuses read buffers smaller than this; smaller `headerlen`
/// values are enforced by `proxy` on the parsed header instead.
const HYPER_MIN_BUFFER: usize = 8192;

/// Relays one client connection already paired with its backend `server`
/// until either side closes, then unregisters the session.
pub async fn relay(
    engine: Arc<Engine>,
    session: Connected,
    client: TcpStream,
    server: TcpStream,
    listen: SocketAddr,
) {
    let ended = serve(&engine, &session, client, server, listen).await;
    let outcome = Outcome::Relayed(session.backend.addr, ended);
    finish(&engine, &session.plan, session.id, session.peer, &outcome);
}

/// relayd's answer when no backend could be reached: with `return error`
/// an error page (504 when connecting failed, 503 when no host was
/// usable), otherwise the connection just closes.
pub async fn answer_unreachable(
    plan: &RelayPlan,
    mut client: TcpStream,
    listen: SocketAddr,
    why: &str,
) {
    let Some(how) = &plan.return_error else {
        return;
    };
    let (status, message) = if why.starts_with("connect to") {
        (StatusCode::GATEWAY_TIMEOUT, "connect failed")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, why)
    };
    let page = error_page::raw(status, message, how.style.as_deref(), listen);
    // Best effort: the client may be gone already.
    let _ = tokio::time::timeout(plan.session_timeout, client.write_all(&page)).await;
    let _ = client.shutdown().await;
}

async fn serve(
    engine: &Arc<Engine>,
    session: &Connected,
    client: TcpStream,
    server: TcpStream,
    listen: SocketAddr,
) -> Ended {
    let plan = session.plan.clone();
    let link = match backend::Link::open(&plan, server, session.backend).await {
        Ok(link) => link,
        Err(e) => return Ended::ServerWrite(io::Error::other(e)),
    };
    let proxy = Arc::new(Proxy::new(
        engine.clone(),
        session.id,
        plan.clone(),
        link,
        session.peer,
        listen,
    ));
    let service = service_fn(move |request| {
        let proxy = proxy.clone();
        async move { proxy.handle(request).await }
    });
    let headerlen = usize::try_from(plan.http.headerlen).unwrap_or(usize::MAX);
    let served = server_http1::Builder::new()
        .preserve_header_case(true)
        .title_case_headers(false)
        .max_buf_size(headerlen.max(HYPER_MIN_BUFFER))
        .timer(TokioTimer::new())
        .header_read_timeout(plan.session_timeout)
        .serve_connection(TokioIo::new(client), service)
        .with_upgrades()
        .await;
    match served {
        Ok(()) => Ended::Done,
        Err(e) if e.is_timeout() => Ended::Timeout,
        Err(e) => Ended::ClientRead(io::Error::other(e)),
    }
}
