//! The backend side of an HTTP session: one hyper client connection at a
//! time, replaced only when the filter rules send a request to another
//! table (`forward to <table>`) or their `hash` picks another host.

use crate::relay::engine::{Backend, Engine};
use crate::relay::forward::connect;
use crate::relay::plan::{RelayPlan, TableTarget, Target};
use hyper::body::Incoming;
use hyper::client::conn::http1::{Builder, SendRequest};
use hyper_util::rt::TokioIo;
use relayd_config::Mode;
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// The live connection to one backend host.
pub struct Link {
    pub sender: SendRequest<Incoming>,
    pub backend: Backend,
    /// The table definition the host belongs to, if any.
    pub table: Option<String>,
    task: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Link {
    /// Speaks HTTP/1.1 over `server`, keeping header case as written.
    pub async fn open(
        plan: &RelayPlan,
        server: TcpStream,
        backend: Backend,
    ) -> Result<Link, hyper::Error> {
        let (sender, connection) = Builder::new()
            .preserve_header_case(true)
            .title_case_headers(false)
            .handshake(TokioIo::new(server))
            .await?;
        let task = tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!("backend connection: {e}");
            }
        });
        Ok(Link {
            sender,
            backend,
            table: table_of(plan, backend),
            task,
        })
    }
}

/// Which table definition `backend`'s host comes from.
fn table_of(plan: &RelayPlan, backend: Backend) -> Option<String> {
    let Target::Tables(tables) = &plan.target else {
        return None;
    };
    let host = backend.host?;
    tables
        .iter()
        .find(|t| t.table.hosts.iter().any(|h| h.id == host))
        .map(|t| t.table.template.clone())
}

/// Where the rules want this request to go.
pub struct Route<'a> {
    pub table: Option<&'a str>,
    pub hash: Option<u64>,
}

/// Decides whether the request needs another backend than `current`'s
/// and connects there; `None` keeps the current link.
pub async fn reroute(
    engine: &Engine,
    plan: &RelayPlan,
    session: u32,
    peer: SocketAddr,
    listen: SocketAddr,
    current: &Link,
    route: Route<'_>,
) -> Option<Result<Link, String>> {
    if route.table.is_none() && route.hash.is_none() {
        return None;
    }
    let Target::Tables(tables) = &plan.target else {
        return None;
    };
    let moving = route
        .table
        .is_some_and(|t| current.table.as_deref() != Some(t));
    let candidates: Vec<TableTarget> = tables
        .iter()
        .filter(|t| route.table.is_none_or(|name| t.table.template == name))
        .map(|t| with_request_hash(t, route.hash))
        .collect();
    let hashing = route.hash.is_some()
        && candidates
            .iter()
            .any(|t| matches!(t.forward.mode, Mode::Hash | Mode::LoadBalance));
    if !moving && !hashing {
        return None;
    }
    let mut tried = Vec::new();
    let mut last_error = "no active hosts".to_string();
    for _ in 0..=plan.retry {
        let Some(backend) = engine.choose(plan, &candidates, peer, listen, &tried) else {
            break;
        };
        if !moving && backend.addr == current.backend.addr {
            return None;
        }
        match connect(engine, backend.addr, plan, peer).await {
            Ok(server) => {
                return Some(
                    Link::open(plan, server, backend)
                        .await
                        .map_err(|e| format!("backend {}: {e}", backend.addr)),
                )
            }
            Err(e) => {
                tracing::debug!(
                    "relay {}, session {session}: connect to {}: {e}",
                    plan.name,
                    backend.addr
                );
                last_error = format!("connect to {} failed: {e}", backend.addr);
                match backend.host {
                    Some(host) => tried.push(host),
                    None => break,
                }
            }
        }
    }
    Some(Err(last_error))
}

/// The table's mode key mixed with the values of the request's `hash`
/// actions, so that `mode hash`/`loadbalance` follow them.
fn with_request_hash(target: &TableTarget, hash: Option<u64>) -> TableTarget {
    let mut target = target.clone();
    if let Some(hash) = hash {
        target.key ^= hash.rotate_left(17);
    }
    target
}
