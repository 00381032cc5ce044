//! metrics, the Prometheus endpoint of `metrics listen on` (an extension
//! to relayd.conf(5)): it serves `GET /metrics` on the socket the parent
//! bound, and for each scrape asks the parent for the text, which the
//! parent renders from its status mirror. It keeps no state of its own and
//! reads nothing but its clients' requests.
//!
//! imsg peers: parent.
//! - parent: the listening socket with each configuration, and the text of
//!   each scrape in; scrape requests out.
//!
//! Sandbox: chroot, unprivileged user, no capabilities, no_new_privs, seccomp, landlock.
//! (`sandbox`: the calls of `sandbox/calls/metrics.rs`, no files, no TCP).
//!
//! Without `metrics listen on` it runs and serves nothing. A reload that
//! keeps the option gets a new socket (SO_REUSEPORT) at `ConfigDone`; the
//! old one serves until `Start`.

mod serve;

use crate::engine::{ChildError, ChildStart, Context, Engine, EngineError};
use relayd_config::Config;
use relayd_proto::correlate::RequestId;
use relayd_proto::messages::parent_metrics::{MetricsToParent, ParentToMetrics};
use relayd_proto::messages::Refusal;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Scrapes waiting for the parent's text at once; more get 503.
const PENDING_LIMIT: usize = 16;

/// A scrape from a client connection: the text goes back on `answer`.
pub struct Scrape {
    answer: oneshot::Sender<String>,
}

struct Metrics {
    /// The socket sent with the configuration being rolled out.
    arrived: Option<(SocketAddr, OwnedFd)>,
    /// The accept loop of the running configuration.
    server: Option<JoinHandle<()>>,
    pending: HashMap<RequestId, oneshot::Sender<String>>,
    next_request: RequestId,
}

/// A configuration ready to run: its listener, if it has one.
pub struct Prepared {
    listener: Option<(SocketAddr, tokio::net::TcpListener)>,
}

/// The metrics process's entry in the process table.
pub fn main(start: ChildStart) -> Result<(), ChildError> {
    start.run(|_: &Context<Metrics>| {
        Ok(Metrics {
            arrived: None,
            server: None,
            pending: HashMap::new(),
            next_request: 0,
        })
    })
}

impl Engine for Metrics {
    type Message = ParentToMetrics;
    type Report = MetricsToParent;
    type Event = Scrape;
    type Prepared = Prepared;
    type Error = EngineError;

    fn reset(&mut self) {
        self.arrived = None;
    }

    fn prepare(&mut self, config: Config) -> Result<Prepared, Refusal> {
        let arrived = self.arrived.take();
        match (config.global.metrics, arrived) {
            (None, _) => Ok(Prepared { listener: None }),
            (Some(_), None) => Err(Refusal::MissingDescriptor {
                what: "the metrics listening socket".to_string(),
            }),
            (Some(_), Some((addr, fd))) => {
                let listener =
                    tokio::net::TcpListener::from_std(fd.into()).map_err(|e| Refusal::Metrics {
                        reason: format!("cannot serve the socket of {addr}: {e}"),
                    })?;
                Ok(Prepared {
                    listener: Some((addr, listener)),
                })
            }
        }
    }

    async fn commit(&mut self, prepared: Prepared, cx: &Context<Self>) -> Result<(), EngineError> {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some((addr, listener)) = prepared.listener {
            tracing::info!("metrics: serving http://{addr}/metrics");
            self.server = Some(tokio::spawn(serve::accept_loop(listener, cx.events())));
        }
        Ok(())
    }

    async fn on_message(
        &mut self,
        message: ParentToMetrics,
        fd: Option<OwnedFd>,
        _cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        match message {
            ParentToMetrics::ListenSocket(addr) => match fd {
                Some(fd) => self.arrived = Some((addr, fd)),
                None => tracing::warn!("metrics socket {addr} came without its descriptor"),
            },
            ParentToMetrics::Exposition { request_id, text } => {
                if let Some(answer) = self.pending.remove(&request_id) {
                    // The client may have given up: nothing to do then.
                    let _ = answer.send(text);
                }
            }
        }
        Ok(())
    }

    // No on_peer: the table gives metrics no peers (the default refuses).

    async fn on_event(&mut self, scrape: Scrape, cx: &Context<Self>) -> Result<(), EngineError> {
        self.pending.retain(|_, answer| !answer.is_closed());
        if self.pending.len() >= PENDING_LIMIT {
            // Dropping the sender answers the client 503.
            return Ok(());
        }
        self.next_request += 1;
        let request_id = self.next_request;
        self.pending.insert(request_id, scrape.answer);
        cx.report(MetricsToParent::Scrape { request_id })?;
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
