//! The backend side of an HTTP session: one connection at a time, opened
//! when the first request has been read (so that its rules can choose the
//! table and hash), replaced only when a later request's rules send it to
//! another table (`forward to <table>`) or their `hash` picks another host.

use super::wire::Wire;
use crate::relay::core::forward::{connect, connect_backend};
use crate::relay::core::plan::{RelayPlan, TableTarget, Target};
use crate::relay::core::shared::{Backend, Shared};
use relayd_config::Mode;
use std::net::SocketAddr;
use tokio::net::TcpStream;

/// The live connection to one backend host.
pub struct Link {
    pub wire: Wire,
    pub backend: Backend,
    /// The table definition the host belongs to, if any.
    pub table: Option<String>,
}

impl Link {
    pub fn new(plan: &RelayPlan, stream: TcpStream, backend: Backend) -> Link {
        Link {
            wire: Wire::new(stream, plan.tcp.nodelay, plan.session_timeout),
            backend,
            table: table_of(plan, backend),
        }
    }
}

/// Who is asking: what choosing and connecting a backend needs to know.
pub struct Chooser<'a> {
    pub shared: &'a Shared,
    pub plan: &'a RelayPlan,
    pub session: u32,
    pub peer: SocketAddr,
    pub listen: SocketAddr,
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
#[derive(Clone, Copy, Default)]
pub struct Route<'a> {
    pub table: Option<&'a str>,
    pub hash: Option<u64>,
}

impl Chooser<'_> {
    /// The first backend of a session, following the first request's route.
    pub async fn first(&self, client: &TcpStream, route: Route<'_>) -> Result<Link, String> {
        if matches!(self.plan.target, Target::Tables(_)) {
            if let Some(link) = self.reroute(None, route).await {
                return link;
            }
        }
        let (stream, backend) = connect_backend(
            self.shared,
            self.plan,
            self.session,
            client,
            self.peer,
            self.listen,
        )
        .await?;
        Ok(Link::new(self.plan, stream, backend))
    }

    /// Decides whether the request needs another backend than `current`'s
    /// and connects there; `None` keeps the current link.
    pub async fn reroute(
        &self,
        current: Option<&Link>,
        route: Route<'_>,
    ) -> Option<Result<Link, String>> {
        let Target::Tables(tables) = &self.plan.target else {
            return None;
        };
        if current.is_some() && route.table.is_none() && route.hash.is_none() {
            return None;
        }
        let moving = current.is_none()
            || route
                .table
                .is_some_and(|t| current.and_then(|c| c.table.as_deref()) != Some(t));
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
        for _ in 0..=self.plan.retry {
            let Some(backend) =
                self.shared
                    .choose(self.plan, &candidates, self.peer, self.listen, &tried)
            else {
                break;
            };
            if let Some(current) = current.filter(|_| !moving) {
                if backend.addr == current.backend.addr {
                    return None;
                }
            }
            match connect(self.shared, backend.addr, self.plan, self.peer).await {
                Ok(stream) => return Some(Ok(Link::new(self.plan, stream, backend))),
                Err(e) => {
                    tracing::debug!(
                        "relay {}, session {}: connect to {}: {e}",
                        self.plan.name,
                        self.session,
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
