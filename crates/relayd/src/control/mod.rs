//! The control socket, served by the parent (relayd has a separate control
//! process; here the parent already holds everything relayctl asks for).
//!
//! Peers: relayctl clients, speaking `relayd_proto::control` in imsg frames.
//! Sandbox: none of its own; it runs in the parent (root). The socket is
//! mode 0660, owner root, so only root and the socket's group may talk to it;
//! each call carries the client's user id (SO_PEERCRED), and the commands
//! that change tables at run time are root's only.
//!
//! Each connection is a task that first checks the client's protocol
//! version (`Hello`, see `relayd_proto::control`), then forwards requests to
//! the parent's main loop as [`ControlCall`]s and writes back what the loop
//! answers; `monitor` connections then stream events until the client goes
//! away. A client of another version gets our `Hello` and is closed
//! without a word more: its messages may not mean what ours do.
//!
//! Limits, so clients cannot wear the parent down: at most
//! [`MAX_CLIENTS`] connections are served at once (one more is closed as
//! soon as it is accepted, with a warning while the socket stays full); a
//! client must say `Hello` within [`FRAME_TIMEOUT`], and a frame it
//! started must be complete within as long of its first byte (an idle
//! client between requests may stay); channels hold no read buffer of their own
//! (`relayd_proto` reads into one buffer per thread).

use relayd_proto::channel::ImsgChannel;
use relayd_proto::control::{
    check_version, ControlReply, ControlRequest, MonitorEvent, CONTROL_VERSION,
};
use relayd_proto::{ImsgReader, ImsgWriter};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::{broadcast, mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// Control connections served at once.
pub const MAX_CLIENTS: usize = 128;
/// How long a client has for its `Hello`, and for the rest of a frame it
/// started sending.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the control socket cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket {} is in use: is another relayd running?", .path.display())]
    InUse { path: PathBuf },
    #[error("cannot remove stale {}: {source}", .path.display())]
    RemoveStale { path: PathBuf, source: io::Error },
    #[error("cannot bind {}: {source}", .path.display())]
    Bind { path: PathBuf, source: io::Error },
    #[error("cannot chmod {}: {source}", .path.display())]
    Chmod { path: PathBuf, source: io::Error },
    #[error("control socket already served")]
    AlreadyServed,
    #[error("control socket: {0}")]
    Listener(io::Error),
}

/// What the main loop answers to one request.
pub enum Answer {
    /// Rows or a single `Ok`/`Failed`, written in order.
    Replies(Vec<ControlReply>),
    /// Events to stream to a `monitor` client.
    Monitor(broadcast::Receiver<MonitorEvent>),
}

/// One request on its way to the main loop.
pub struct ControlCall {
    pub request: ControlRequest,
    pub answer: oneshot::Sender<Answer>,
    /// The client's user id (SO_PEERCRED), for commands only root may give.
    pub peer_uid: Option<u32>,
}

/// The bound control socket; unlinks its path when dropped.
pub struct ControlSocket {
    path: PathBuf,
    listener: Option<StdUnixListener>,
}

impl ControlSocket {
    /// Binds `path`, refusing if another relayd answers there (the second
    /// instance check). A stale socket file nobody listens on is replaced.
    pub fn bind(path: &Path) -> Result<ControlSocket, ControlError> {
        let path_buf = || path.to_path_buf();
        if StdUnixStream::connect(path).is_ok() {
            return Err(ControlError::InUse { path: path_buf() });
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ControlError::RemoveStale {
                    path: path_buf(),
                    source,
                })
            }
        }
        // Bind with a restrictive umask so the socket is never briefly open.
        let old_umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o117));
        let bound = StdUnixListener::bind(path);
        nix::sys::stat::umask(old_umask);
        let listener = bound.map_err(|source| ControlError::Bind {
            path: path_buf(),
            source,
        })?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(
            |source| ControlError::Chmod {
                path: path_buf(),
                source,
            },
        )?;
        let _ = nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(0)), None);
        Ok(ControlSocket {
            path: path.to_path_buf(),
            listener: Some(listener),
        })
    }

    /// Starts accepting in a task of the current runtime.
    pub fn serve(&mut self, calls: mpsc::Sender<ControlCall>) -> Result<(), ControlError> {
        let listener = self.listener.take().ok_or(ControlError::AlreadyServed)?;
        listener
            .set_nonblocking(true)
            .map_err(ControlError::Listener)?;
        let listener = UnixListener::from_std(listener).map_err(ControlError::Listener)?;
        tokio::spawn(accept_loop(listener, calls));
        Ok(())
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn accept_loop(listener: UnixListener, calls: mpsc::Sender<ControlCall>) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    let mut full = false;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => match Arc::clone(&slots).try_acquire_owned() {
                Ok(slot) => {
                    full = false;
                    tokio::spawn(serve_client(stream, calls.clone(), slot));
                }
                Err(_) => {
                    if !full {
                        tracing::warn!(
                            "control socket: {MAX_CLIENTS} clients connected, closing new ones"
                        );
                    }
                    full = true;
                    drop(stream);
                }
            },
            Err(e) => {
                tracing::warn!("control socket accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// The client's next request; `None` when the conversation ends (the
/// client left, sent something malformed, or did not complete a frame
/// within [`FRAME_TIMEOUT`] of its first byte, which the reader enforces;
/// `patient`: it may idle between frames, else the request itself must
/// come within [`FRAME_TIMEOUT`]).
async fn next_request(
    reader: &mut ImsgReader<ControlRequest>,
    patient: bool,
) -> Option<ControlRequest> {
    let received = if patient {
        reader.recv().await
    } else {
        match tokio::time::timeout(FRAME_TIMEOUT, reader.recv()).await {
            Ok(received) => received,
            Err(_) => {
                tracing::debug!(
                    "control client timed out ({} bytes of a frame)",
                    reader.partial_frame()
                );
                return None;
            }
        }
    };
    match received {
        Ok(Some(received)) => Some(received.msg),
        Ok(None) => None,
        Err(e) => {
            tracing::debug!("control client: {e}");
            None
        }
    }
}

/// Reads the client's `Hello` and answers with ours; `false` when the
/// conversation must end here.
async fn greet(
    reader: &mut ImsgReader<ControlRequest>,
    writer: &mut ImsgWriter<ControlReply>,
) -> bool {
    let version = match next_request(reader, false).await {
        Some(ControlRequest::Hello { version }) => version,
        Some(other) => {
            tracing::debug!("control client did not say hello first: {other:?}");
            return false;
        }
        None => return false,
    };
    let hello = ControlReply::Hello {
        version: CONTROL_VERSION,
    };
    if writer.send(&hello, None).await.is_err() {
        return false;
    }
    match check_version(version, CONTROL_VERSION) {
        Ok(()) => true,
        Err(mismatch) => {
            tracing::warn!("control client refused: {mismatch}");
            false
        }
    }
}

/// Serves one client; its `slot` is given back when it ends.
async fn serve_client(
    stream: tokio::net::UnixStream,
    calls: mpsc::Sender<ControlCall>,
    slot: OwnedSemaphorePermit,
) {
    let _slot = slot;
    let peer_uid = match stream.peer_cred() {
        Ok(cred) => Some(cred.uid()),
        Err(e) => {
            tracing::debug!("control client credentials: {e}");
            None
        }
    };
    let channel: ImsgChannel<ControlReply, ControlRequest> = ImsgChannel::from_tokio(stream);
    let (mut reader, mut writer) = channel.split();
    reader.limit_frame_time(FRAME_TIMEOUT);
    if !greet(&mut reader, &mut writer).await {
        return;
    }
    loop {
        let Some(request) = next_request(&mut reader, true).await else {
            return;
        };
        tracing::debug!("control request {request:?}");
        let (answer_tx, answer_rx) = oneshot::channel();
        let call = ControlCall {
            request,
            answer: answer_tx,
            peer_uid,
        };
        if calls.send(call).await.is_err() {
            return;
        }
        let Ok(answer) = answer_rx.await else {
            return;
        };
        match answer {
            Answer::Replies(replies) => {
                for reply in &replies {
                    if writer.send(reply, None).await.is_err() {
                        return;
                    }
                }
            }
            Answer::Monitor(mut events) => loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Ok(event) => {
                            if writer.send(&ControlReply::Event(event), None).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!("monitor client lagged, {n} events lost");
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    // Any input or end-of-file from a monitor client ends it.
                    _ = reader.recv() => return,
                }
            },
        }
    }
}
