//! A cloneable, non-async handle for sending on a channel from many tasks.
//! Messages are queued and written in order by one writer task, so frames
//! never interleave and callers never wait for the socket.

use crate::channel::ImsgWriter;
use crate::error::ImsgError;
use serde::Serialize;
use std::os::fd::OwnedFd;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

struct Outgoing<Tx> {
    peer_id: u32,
    msg: Tx,
    fd: Option<OwnedFd>,
}

/// Cheap to clone; see [`ImsgWriter::into_sender`].
pub struct ImsgSender<Tx> {
    queue: mpsc::UnboundedSender<Outgoing<Tx>>,
}

impl<Tx> Clone for ImsgSender<Tx> {
    fn clone(&self) -> Self {
        ImsgSender {
            queue: self.queue.clone(),
        }
    }
}

impl<Tx: Serialize + Send + Sync + 'static> ImsgSender<Tx> {
    /// Queues `msg` (and `fd`) for sending; fails only once the writer task
    /// has stopped because the socket failed.
    pub fn send(&self, msg: Tx, fd: Option<OwnedFd>) -> Result<(), ImsgError> {
        self.send_to_peer(0, msg, fd)
    }

    pub fn send_to_peer(
        &self,
        peer_id: u32,
        msg: Tx,
        fd: Option<OwnedFd>,
    ) -> Result<(), ImsgError> {
        self.queue
            .send(Outgoing { peer_id, msg, fd })
            .map_err(|_| ImsgError::Closed)
    }

    /// Whether the writer task has stopped.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

impl<Tx: Serialize + Send + Sync + 'static> ImsgWriter<Tx> {
    /// Moves the writer into a task (spawned on the current tokio runtime)
    /// fed by the returned sender. The task ends with `Ok` once every sender
    /// is dropped and the queue is flushed, or with the first send error;
    /// messages queued after an error are dropped (their fds closed).
    pub fn into_sender(mut self) -> (ImsgSender<Tx>, JoinHandle<Result<(), ImsgError>>) {
        let (queue, mut pending) = mpsc::unbounded_channel::<Outgoing<Tx>>();
        let task = tokio::spawn(async move {
            while let Some(out) = pending.recv().await {
                self.send_to_peer(out.peer_id, &out.msg, out.fd).await?;
            }
            Ok(())
        });
        (ImsgSender { queue }, task)
    }
}

#[cfg(test)]
mod tests {
    use crate::ImsgChannel;
    use std::collections::BTreeSet;

    #[tokio::test]
    async fn many_tasks_share_one_sender_without_mixing_frames() {
        let (a, mut b) = ImsgChannel::<(u32, String), (u32, String)>::pair().unwrap();
        let (_reader, writer) = a.split();
        let (sender, task) = writer.into_sender();
        let mut producers = Vec::new();
        for producer in 0..4u32 {
            let sender = sender.clone();
            producers.push(tokio::spawn(async move {
                for i in 0..100u32 {
                    sender
                        .send((producer * 1000 + i, "x".repeat(i as usize * 50)), None)
                        .unwrap();
                    tokio::task::yield_now().await;
                }
            }));
        }
        drop(sender);
        for producer in producers {
            producer.await.unwrap();
        }
        let mut seen = BTreeSet::new();
        while seen.len() < 400 {
            let received = b.recv().await.unwrap().unwrap();
            let (n, text) = received.msg;
            assert_eq!(text.len(), (n % 1000) as usize * 50);
            assert!(seen.insert(n));
        }
        task.await.unwrap().unwrap();
        assert!(
            b.recv().await.unwrap().is_none(),
            "writer closed after the last sender"
        );
    }
}
