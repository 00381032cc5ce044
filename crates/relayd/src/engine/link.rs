//! The parent link: the one definition of a child's channel to its parent.
//! The runtime reads it; engines send their reports through a
//! [`ParentSender`], which any task may clone.

use super::error::LinkError;
use relayd_proto::messages::{LifecycleAnswer, ToChild, ToParent};
use relayd_proto::{ImsgChannel, ImsgError, ImsgReader, ImsgSender, Received};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::os::unix::net::UnixStream;

/// Opens the channel on `socket` (fd 3); inside the runtime.
pub fn open<M, R>(socket: UnixStream) -> Result<(ParentReader<M>, ParentSender<R>), LinkError>
where
    M: DeserializeOwned + Serialize,
    R: Serialize + Send + Sync + 'static,
{
    let channel: ImsgChannel<ToParent<R>, ToChild<M>> =
        ImsgChannel::new(socket).map_err(ImsgError::Io)?;
    let (reader, writer) = channel.split();
    // The writer task ends with the process; a send after it failed
    // returns `Closed`.
    let (sender, _writer_task) = writer.into_sender();
    Ok((ParentReader { reader }, ParentSender { sender }))
}

/// What the parent sends, as the runtime reads it.
pub struct ParentReader<M> {
    reader: ImsgReader<ToChild<M>>,
}

impl<M: DeserializeOwned + Serialize> ParentReader<M> {
    /// The next message; `Ok(None)` when the parent closed the channel or
    /// went away with data unread (the child leaves quietly).
    pub async fn recv(&mut self) -> Result<Option<Received<ToChild<M>>>, LinkError> {
        match self.reader.recv().await {
            Ok(Some(received)) => Ok(Some(received)),
            Ok(None) => {
                tracing::debug!("parent closed the channel, exiting");
                Ok(None)
            }
            Err(ImsgError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                tracing::debug!("parent went away, exiting");
                Ok(None)
            }
            Err(e) => Err(LinkError(e)),
        }
    }
}

/// Sends to the parent: queued, in order, from any task.
pub struct ParentSender<R> {
    sender: ImsgSender<ToParent<R>>,
}

impl<R> Clone for ParentSender<R> {
    fn clone(&self) -> Self {
        ParentSender {
            sender: self.sender.clone(),
        }
    }
}

impl<R: Serialize + Send + Sync + 'static> ParentSender<R> {
    /// One of the engine's own reports.
    pub fn report(&self, report: R) -> Result<(), LinkError> {
        Ok(self.sender.send(ToParent::Engine(report), None)?)
    }

    pub(super) fn answer(&self, answer: LifecycleAnswer) -> Result<(), LinkError> {
        Ok(self.sender.send(ToParent::Lifecycle(answer), None)?)
    }
}
