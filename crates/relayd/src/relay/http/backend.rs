//! The backend side of an HTTP session: one connection at a time, opened
//! when the first request has been read (so that its rules can choose the
//! table and hash), replaced only when a later request's rules send it to
//! another table (`forward to <table>`) or their `hash` picks another host.
//! With `http { reuse }` a chosen host's idle pooled connection is taken
//! before a new one is opened (`pool.rs`).

use super::wire::Wire;
use crate::relay::core::forward::{
    connect, connect_backend, connect_failed, no_usable_host, ForwardError,
};
use crate::relay::core::plan::{RelayPlan, TableTarget, Target};
use crate::relay::core::shared::{Backend, Shared};
use crate::relay::core::stream::Transport;
use relayd_config::Mode;
use std::net::SocketAddr;
use std::sync::Arc;

/// The live connection to one backend host.
pub struct Link {
    pub wire: Wire,
    pub backend: Backend,
    /// The table definition the host belongs to, if any.
    pub table: Option<String>,
    /// The connection may go to the pool when the session is done with
    /// it: `http { reuse }`, a table host or the relay's fixed address,
    /// no transparent source.
    pub poolable: bool,
    /// The last exchange ended so that another request may follow on this
    /// connection (set by the exchange, HAProxy's `http-reuse safe`).
    pub reusable: bool,
}

impl Link {
    pub fn new(plan: &RelayPlan, stream: Transport, backend: Backend) -> Link {
        Link {
            wire: Wire::new(stream, plan.tcp.nodelay, plan.session_timeout),
            backend,
            table: table_of(plan, backend),
            poolable: false,
            reusable: false,
        }
    }

    /// A fresh connection to the same backend, pooled as this one would
    /// have been; an inspected session's client SNI (`sni`) goes with it.
    pub async fn reconnect(
        &self,
        shared: &Shared,
        plan: &RelayPlan,
        session: u32,
        (peer, sni): (SocketAddr, Option<&str>),
    ) -> Result<Link, ForwardError> {
        let addr = self.backend.addr;
        match connect(shared, addr, plan, peer, sni).await {
            Ok(stream) => Ok(Link::new(plan, stream, self.backend).poolable(self.poolable)),
            Err(error) => Err(connect_failed(plan, session, peer, addr, error)),
        }
    }

    fn poolable(mut self, poolable: bool) -> Link {
        self.poolable = poolable;
        self
    }
}

/// Who is asking: what choosing and connecting a backend needs to know.
pub struct Chooser<'a> {
    pub shared: &'a Shared,
    pub plan: &'a Arc<RelayPlan>,
    pub session: u32,
    pub peer: SocketAddr,
    pub listen: SocketAddr,
    /// TLS inspection: the client's SNI, sent on every connection.
    pub sni: Option<&'a str>,
    /// `http { reuse }`: pooled connections may be taken and kept.
    pub reuse: bool,
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
    pub async fn first(&self, client: &Transport, route: Route<'_>) -> Result<Link, ForwardError> {
        if let Target::Tables(tables) = &self.plan.target {
            // With nothing to keep, the outcome is a link or an error.
            let chosen = self.connect_among(tables, None, route).await?;
            return chosen.ok_or_else(|| no_usable_host(self.plan, self.session, self.peer));
        }
        let fixed = match self.plan.target {
            Target::Address(addr) => Some(Backend { addr, host: None }),
            _ => None,
        };
        if let Some(link) = fixed.and_then(|backend| self.pooled(backend)) {
            return Ok(link);
        }
        let (stream, backend) = connect_backend(
            self.shared,
            self.plan,
            self.session,
            client,
            (self.peer, self.listen),
            self.sni,
        )
        .await?;
        Ok(Link::new(self.plan, stream, backend).poolable(self.may_pool() && fixed.is_some()))
    }

    /// Whether this session's connections may come from and go to the pool.
    fn may_pool(&self) -> bool {
        self.reuse && !self.plan.transparent
    }

    /// An idle pooled connection to `backend`, if there is a live one.
    fn pooled(&self, backend: Backend) -> Option<Link> {
        if !self.may_pool() {
            return None;
        }
        let stream = self.shared.backends.take(self.plan, backend)?;
        let mut link = Link::new(self.plan, Transport::Tcp(stream), backend).poolable(true);
        // It ended its last exchange reusable, or it would not be here.
        link.reusable = true;
        Some(link)
    }

    /// A link to another backend if the request's route needs one other
    /// than `current`'s; `None` keeps `current`.
    pub async fn reroute(
        &self,
        current: &Link,
        route: Route<'_>,
    ) -> Result<Option<Link>, ForwardError> {
        let Target::Tables(tables) = &self.plan.target else {
            return Ok(None);
        };
        if route.table.is_none() && route.hash.is_none() {
            return Ok(None);
        }
        let moving = route
            .table
            .is_some_and(|t| current.table.as_deref() != Some(t));
        let hashing = route.hash.is_some()
            && tables
                .iter()
                .filter(|t| route.table.is_none_or(|name| t.table.template == name))
                .any(|t| matches!(t.forward.mode, Mode::Hash | Mode::LoadBalance));
        if !moving && !hashing {
            return Ok(None);
        }
        let keep = (!moving).then_some(current.backend.addr);
        self.connect_among(tables, keep, route).await
    }

    /// Connects to a host of `tables` the route allows, retrying others;
    /// `None` if the scheduler picks `keep` (the current backend): nothing
    /// is connected then.
    async fn connect_among(
        &self,
        tables: &[TableTarget],
        keep: Option<SocketAddr>,
        route: Route<'_>,
    ) -> Result<Option<Link>, ForwardError> {
        let candidates: Vec<TableTarget> = tables
            .iter()
            .filter(|t| route.table.is_none_or(|name| t.table.template == name))
            .map(|t| with_request_hash(t, route.hash))
            .collect();
        let mut tried = Vec::new();
        let mut failed = no_usable_host(self.plan, self.session, self.peer);
        for _ in 0..=self.plan.retry {
            let Some(backend) =
                self.shared
                    .choose(self.plan, &candidates, self.peer, self.listen, &tried)
            else {
                break;
            };
            if keep == Some(backend.addr) {
                return Ok(None);
            }
            if let Some(link) = self.pooled(backend) {
                return Ok(Some(link));
            }
            match connect(self.shared, backend.addr, self.plan, self.peer, self.sni).await {
                Ok(stream) => {
                    let link = Link::new(self.plan, stream, backend).poolable(self.may_pool());
                    return Ok(Some(link));
                }
                Err(error) => {
                    tracing::debug!(
                        "relay {}, session {}: connect to {}: {error}",
                        self.plan.name,
                        self.session,
                        backend.addr
                    );
                    failed =
                        connect_failed(self.plan, self.session, self.peer, backend.addr, error);
                    match backend.host {
                        Some(host) => tried.push(host),
                        None => break,
                    }
                }
            }
        }
        Err(failed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::core::forward::ForwardErrorKind;
    use crate::relay::core::testing::{plan_of, shared};
    use crate::relay::http::testing::{client_addr, listen_addr};

    /// Relay `r` forwarding to tables `<a>` (port `a`) and `<b>` (port
    /// `b`), one host each, unchecked.
    fn two_tables(a: u16, b: u16) -> Arc<RelayPlan> {
        plan_of(&format!(
            "table <a> {{ 127.0.0.1 }}\ntable <b> {{ 127.0.0.1 }}\n\
             http protocol p {{\nmatch request path \"/b/*\" forward to <b>\n}}\n\
             relay r {{\nlisten on 127.0.0.1 port 1\nprotocol p\n\
             forward to <a> port {a}\nforward to <b> port {b}\n}}\n"
        ))
    }

    /// A link to the host of table `index` over an in-memory stream.
    fn link_to(plan: &RelayPlan, index: usize) -> (Link, tokio::io::DuplexStream) {
        let Target::Tables(tables) = &plan.target else {
            panic!("a relay forwarding to tables");
        };
        let table = &tables[index].table;
        let (ours, theirs) = tokio::io::duplex(1024);
        let backend = Backend {
            addr: SocketAddr::new(table.hosts[0].addr, table.port.unwrap_or(0)),
            host: Some(table.hosts[0].id),
        };
        (
            Link::new(plan, Transport::Layered(Box::new(ours)), backend),
            theirs,
        )
    }

    fn chooser<'a>(shared: &'a Shared, plan: &'a Arc<RelayPlan>) -> Chooser<'a> {
        Chooser {
            shared,
            plan,
            session: 1,
            peer: client_addr(),
            listen: listen_addr(),
            sni: None,
            reuse: true,
        }
    }

    #[tokio::test]
    async fn a_request_the_rules_leave_alone_keeps_its_link() {
        let (shared, plan) = (shared(), two_tables(1, 2));
        let (current, _backend) = link_to(&plan, 0);
        assert_eq!(current.table.as_deref(), Some("a"));
        let chooser = chooser(&shared, &plan);
        let kept = chooser.reroute(&current, Route::default()).await;
        assert!(matches!(kept, Ok(None)));
        let same_table = Route {
            table: Some("a"),
            hash: None,
        };
        assert!(matches!(
            chooser.reroute(&current, same_table).await,
            Ok(None)
        ));
    }

    #[tokio::test]
    async fn a_rule_naming_another_table_connects_there() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port_b = listener.local_addr().unwrap().port();
        let (shared, plan) = (shared(), two_tables(1, port_b));
        let (current, _backend) = link_to(&plan, 0);
        let chooser = chooser(&shared, &plan);
        let to_b = Route {
            table: Some("b"),
            hash: None,
        };
        let (moved, accepted) = tokio::join!(chooser.reroute(&current, to_b), listener.accept());
        let moved = match moved {
            Ok(Some(link)) => link,
            Ok(None) => panic!("kept the link to <a>"),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(moved.table.as_deref(), Some("b"));
        assert_eq!(moved.backend.addr.port(), port_b);
        assert!(
            moved.wire.stream.is_plain(),
            "a new backend link is plain TCP"
        );
        assert!(accepted.is_ok());
    }

    #[tokio::test]
    async fn a_failed_move_says_why() {
        let (shared, plan) = (
            shared(),
            two_tables(1, crate::relay::core::testing::closed_port()),
        );
        let (current, _backend) = link_to(&plan, 0);
        let to_b = Route {
            table: Some("b"),
            hash: None,
        };
        let failed = chooser(&shared, &plan).reroute(&current, to_b).await;
        match failed {
            Err(e) => {
                assert_eq!(e.kind(), ForwardErrorKind::ConnectRefused);
                assert!(e.to_string().starts_with("connect to 127.0.0.1:"), "{e}");
            }
            Ok(_) => panic!("connected to a closed port"),
        }
    }
}
