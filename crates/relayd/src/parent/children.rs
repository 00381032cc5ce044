//! The parent's side of the process tree: starting every child the process
//! table lists, connecting them as its peer mesh says, and noticing when
//! one goes away.
//!
//! Channels, as relayd has them (each a socketpair; the child-to-child ones
//! are created here and handed to both ends with `PeerChannel`):
//! parent <-> every child, and between children what `procs::peer_mesh`
//! derives from the table (hce -> pfe, hce -> relay N, relay N <-> ca N).

use super::error::ParentError;
use super::links::{ChildEvent, Links};
use crate::proc::{spawn, ChildSpec, ProcId, Spawned};
use crate::sandbox::trap::{describe_call, read_note};
use relayd_proto::messages::Lifecycle;
use std::os::fd::AsRawFd;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// The running children.
pub struct ProcessTree {
    processes: Vec<(ProcId, Child, OwnedFd)>,
}

/// How children are started.
pub struct TreeOptions {
    pub prefork: u32,
    pub foreground: bool,
    pub verbosity: u8,
}

impl ProcessTree {
    /// Starts every child of the process table (`prefork` of the numbered
    /// kinds), each reporting to `events`, then connects them to each other.
    /// Must run in the runtime.
    pub fn start(
        options: &TreeOptions,
        events: &UnboundedSender<ChildEvent>,
    ) -> Result<(ProcessTree, Links), ParentError> {
        let mut tree = ProcessTree {
            processes: Vec::new(),
        };
        let mut links = Links::default();
        for id in crate::procs::child_ids(options.prefork) {
            let (ours, theirs) = UnixStream::pair().map_err(|source| ParentError::Socketpair {
                what: id.to_string(),
                source,
            })?;
            let Spawned { child, death_note } = spawn(ChildSpec {
                id,
                parent_channel: OwnedFd::from(theirs),
                foreground: options.foreground,
                verbosity: options.verbosity,
            })
            .map_err(|source| ParentError::Spawn { id, source })?;
            tracing::debug!("started {id}, pid {}", child.id());
            tree.processes.push((id, child, death_note));
            links.open(id, ours, events)?;
        }
        links.connect_peers(&crate::procs::peer_mesh(options.prefork))?;
        Ok((tree, links))
    }

    pub fn pids(&self) -> Vec<(ProcId, u32)> {
        self.processes
            .iter()
            .map(|(id, c, _)| (*id, c.id()))
            .collect()
    }

    /// Collects children that exited, without waiting. A child its
    /// sandbox killed is logged with the system call it made.
    pub fn reap(&mut self) -> Vec<(ProcId, ExitStatus)> {
        let mut gone = Vec::new();
        self.processes
            .retain_mut(|(id, child, note)| match child.try_wait() {
                Ok(Some(status)) => {
                    if let Some(call) = read_note(note.as_raw_fd()) {
                        tracing::error!(
                            "{id} killed by its sandbox: system call {}",
                            describe_call(call)
                        );
                    }
                    gone.push((*id, status));
                    false
                }
                _ => true,
            });
        gone
    }

    /// Asks every child to leave, waits up to `grace`, then kills the rest.
    pub async fn shut_down(&mut self, links: &Links, grace: Duration) {
        let deadline = Instant::now() + grace;
        // Queued: a child that stopped reading does not hold this up.
        if let Err(e) = links.broadcast(&Lifecycle::Shutdown) {
            tracing::debug!("shutdown: {e}");
        }
        loop {
            for (id, status) in self.reap() {
                tracing::debug!("{id} exited: {status}");
            }
            if self.processes.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for (id, child, _) in &mut self.processes {
            tracing::warn!("{id} did not exit in time, killing it");
            let _ = child.kill();
            let _ = child.wait();
        }
        self.processes.clear();
    }
}

/// How a child ended, for the log: `exited with status 1`, `terminated by
/// signal 9`.
pub fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("terminated by signal {signal}"),
        _ => format!("ended: {status}"),
    }
}
