//! The loop every child runs: the parent's messages (lifecycle here, the
//! rest to the engine), the engine's events and timer, SIGTERM.

use super::error::ChildError;
use super::lifecycle::Rollout;
use super::link::{self, ParentReader};
use super::start::AllowedPeer;
use super::{Context, Engine};
use crate::proc::{Pairing, ProcId};
use relayd_proto::messages::{Lifecycle, LifecycleAnswer, PeerChannel, ToChild};
use relayd_proto::Received;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Whether the loop goes on.
enum Flow {
    Continue,
    Stop,
}

/// The engine and the runtime's state around it.
struct Child<E: Engine> {
    engine: E,
    cx: Context<E>,
    rollout: Rollout<E::Prepared>,
    peers: Vec<AllowedPeer>,
}

/// Runs `make`'s engine on the parent channel `parent` until the child
/// leaves (see the module documentation of `engine`).
pub async fn serve<E: Engine>(
    id: ProcId,
    parent: UnixStream,
    peers: Vec<AllowedPeer>,
    make: impl FnOnce(&Context<E>) -> Result<E, E::Error>,
) -> Result<(), ChildError> {
    let (mut reader, sender): (ParentReader<E::Message>, _) = link::open(parent)?;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let cx = Context {
        id,
        parent: sender,
        events: events_tx,
    };
    let engine = make(&cx).map_err(ChildError::engine)?;
    let mut child = Child {
        engine,
        cx,
        rollout: Rollout::default(),
        peers,
    };
    child.cx.parent.answer(LifecycleAnswer::Ready)?;
    let result = child.serve(&mut reader, &mut events).await;
    child.engine.stop().await;
    result
}

impl<E: Engine> Child<E> {
    async fn serve(
        &mut self,
        reader: &mut ParentReader<E::Message>,
        events: &mut mpsc::UnboundedReceiver<E::Event>,
    ) -> Result<(), ChildError> {
        let stop = terminated();
        tokio::pin!(stop);
        loop {
            let timer = self.engine.next_timer();
            let flow = tokio::select! {
                received = reader.recv() => match received? {
                    Some(received) => self.parent_message(received).await?,
                    None => Flow::Stop,
                },
                Some(event) = events.recv() => {
                    self.engine.on_event(event, &self.cx).await.map_err(ChildError::engine)?;
                    Flow::Continue
                }
                () = sleep_until(timer) => {
                    self.engine.on_timer(&self.cx).await.map_err(ChildError::engine)?;
                    Flow::Continue
                }
                () = &mut stop => {
                    tracing::debug!("terminated by signal");
                    Flow::Stop
                }
            };
            if let Flow::Stop = flow {
                return Ok(());
            }
        }
    }

    async fn parent_message(
        &mut self,
        received: Received<ToChild<E::Message>>,
    ) -> Result<Flow, ChildError> {
        match received.msg {
            ToChild::Engine(message) => {
                self.engine
                    .on_message(message, received.fd, &self.cx)
                    .await
                    .map_err(ChildError::engine)?;
                Ok(Flow::Continue)
            }
            ToChild::Lifecycle(message) => self.lifecycle(message, received.fd).await,
        }
    }

    async fn lifecycle(
        &mut self,
        message: Lifecycle,
        fd: Option<OwnedFd>,
    ) -> Result<Flow, ChildError> {
        match message {
            Lifecycle::Reset { generation } => {
                if let Some(superseded) = self.rollout.reset(generation) {
                    self.engine.abort(superseded);
                }
                self.engine.reset();
            }
            Lifecycle::Config(part) => self.rollout.add(part)?,
            Lifecycle::ConfigDone => {
                let (generation, config) = self.rollout.config_done()?;
                let outcome = self.engine.prepare(config);
                if let Err(refusal) = &outcome {
                    tracing::warn!("refusing configuration {generation}: {refusal}");
                }
                let verdict = self.rollout.prepared(outcome);
                self.cx.parent.answer(LifecycleAnswer::ConfigDone {
                    generation,
                    verdict,
                })?;
            }
            Lifecycle::Start { generation } => {
                let prepared = self.rollout.start(generation)?;
                self.engine
                    .commit(prepared, &self.cx)
                    .await
                    .map_err(ChildError::engine)?;
            }
            Lifecycle::Abort { generation } => {
                if let Some(prepared) = self.rollout.abort(generation)? {
                    tracing::debug!("configuration {generation} aborted, the running one stays");
                    self.engine.abort(prepared);
                }
            }
            Lifecycle::SetVerbose(level) => {
                crate::log::set_verbosity(u8::try_from(level).unwrap_or(u8::MAX))
            }
            Lifecycle::PeerChannel(peer) => {
                if let Some((peer, socket)) = self.peer_socket(peer, fd)? {
                    self.engine
                        .on_peer(peer, socket, &self.cx)
                        .map_err(ChildError::engine)?;
                }
            }
            Lifecycle::Shutdown => return Ok(Flow::Stop),
        }
        Ok(Flow::Continue)
    }

    /// The socket of a channel to another child, if the table allows it.
    fn peer_socket(
        &self,
        peer: PeerChannel,
        fd: Option<OwnedFd>,
    ) -> Result<Option<(ProcId, UnixStream)>, ChildError> {
        let own = self.cx.id.instance();
        let allowed = self.peers.iter().find(|allowed| {
            allowed.kind == peer.peer && (allowed.pairing == Pairing::Each || peer.instance == own)
        });
        let Some(allowed) = allowed else {
            tracing::warn!(
                "unexpected channel to {} (instance {}), closed",
                peer.peer,
                peer.instance
            );
            return Ok(None);
        };
        let id = allowed.instances.id(peer.peer, peer.instance);
        let fd = fd.ok_or(ChildError::PeerWithoutDescriptor { peer: id })?;
        Ok(Some((id, UnixStream::from(fd))))
    }
}

/// Resolves when this process gets SIGTERM.
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut sigterm) => {
            sigterm.recv().await;
        }
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM: {e}");
            std::future::pending::<()>().await;
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::toy::Toy;
    use crate::proc::Instances;
    use relayd_proto::messages::parent_ca::ParentToCa;
    use relayd_proto::messages::{NoMessage, ToParent};
    use relayd_proto::{ImsgChannel, ProcessKind};

    /// The test's end of a child's parent channel.
    type ParentEnd = ImsgChannel<ToChild<ParentToCa>, ToParent<NoMessage>>;

    #[tokio::test]
    async fn ready_first_then_only_the_peers_the_table_allows() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (toy, seen) = Toy::new(0);
        // A ca 2 whose table row allows its own relay instance only.
        let peers = vec![AllowedPeer {
            kind: ProcessKind::Relay,
            pairing: Pairing::SameInstance,
            instances: Instances::Prefork,
        }];
        let id = ProcId::numbered(ProcessKind::Ca, 1);
        let child = tokio::spawn(serve(id, theirs, peers, move |_| Ok(toy)));
        let mut parent = ParentEnd::new(ours).unwrap();
        let ready = parent.recv().await.unwrap().unwrap();
        assert_eq!(ready.msg, ToParent::Lifecycle(LifecycleAnswer::Ready));
        for (kind, instance) in [
            (ProcessKind::Hce, 0),
            (ProcessKind::Relay, 0),
            (ProcessKind::Relay, 1),
        ] {
            let (end, _other) = UnixStream::pair().unwrap();
            let message = Lifecycle::PeerChannel(PeerChannel {
                peer: kind,
                instance,
            });
            parent
                .send(&ToChild::Lifecycle(message), Some(end.into()))
                .await
                .unwrap();
        }
        parent
            .send(&ToChild::Lifecycle(Lifecycle::Shutdown), None)
            .await
            .unwrap();
        child.await.unwrap().unwrap();
        assert_eq!(
            seen.lock().unwrap().peers,
            [ProcId::numbered(ProcessKind::Relay, 1)]
        );
    }

    #[tokio::test]
    async fn a_lifecycle_message_out_of_order_ends_the_child_with_a_clear_error() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (toy, _) = Toy::new(0);
        let id = ProcId::single(ProcessKind::Hce);
        let child = tokio::spawn(serve(id, theirs, Vec::new(), move |_| Ok(toy)));
        let mut parent = ParentEnd::new(ours).unwrap();
        parent
            .send(
                &ToChild::Lifecycle(Lifecycle::Start { generation: 1 }),
                None,
            )
            .await
            .unwrap();
        let error = child.await.unwrap().unwrap_err().to_string();
        assert_eq!(
            error,
            "parent sent Start while no configuration was being sent"
        );
    }
}
