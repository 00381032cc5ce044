//! Typed imsg channels over a Unix stream socket (a socketpair between two
//! relayd processes, or the control socket).
//!
//! `ImsgChannel<Tx, Rx>` sends `Tx` messages and receives `Rx` messages; the
//! peer holds the mirror type `ImsgChannel<Rx, Tx>`. It can be split into a
//! reader and a writer for use from different tasks. [`BlockingChannel`] is
//! the same protocol without a runtime, for relayctl and for code that runs
//! before tokio starts.

use crate::error::ImsgError;
use crate::fdpass::{recv_into, send_with_fd, RecvBuffers};
use crate::frame::{decode_payload, encode_frame, FrameDecoder, Header, RawFrame};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// One received message with its header and descriptor.
#[derive(Debug)]
pub struct Received<M> {
    pub header: Header,
    /// The descriptor sent with this frame, close-on-exec.
    pub fd: Option<OwnedFd>,
    pub msg: M,
}

fn decode_raw<M: DeserializeOwned + Serialize>(raw: RawFrame) -> Result<Received<M>, ImsgError> {
    let msg = decode_payload(&raw.header, &raw.payload)?;
    Ok(Received {
        header: raw.header,
        fd: raw.fd,
        msg,
    })
}

/// Closes both directions so the peer sees end-of-file after a protocol
/// error; errors are ignored because the socket may already be gone.
fn shut_down(socket: BorrowedFd<'_>) {
    use std::os::fd::AsRawFd;
    let _ = nix::sys::socket::shutdown(socket.as_raw_fd(), nix::sys::socket::Shutdown::Both);
}

/// What both kinds of channel keep for receiving: the bytes decoded so far
/// and whether the stream ended or failed.
struct Inbox {
    decoder: FrameDecoder,
    buffers: RecvBuffers,
    failed: bool,
    eof: bool,
}

impl Inbox {
    fn new() -> Inbox {
        Inbox {
            decoder: FrameDecoder::new(),
            buffers: RecvBuffers::new(),
            failed: false,
            eof: false,
        }
    }

    /// The answer the bytes already read give, or `None` when more must be
    /// read from `socket` first.
    fn buffered<M: DeserializeOwned + Serialize>(
        &mut self,
        socket: BorrowedFd<'_>,
    ) -> Option<Result<Option<Received<M>>, ImsgError>> {
        if self.failed {
            return Some(Err(ImsgError::Closed));
        }
        match self.decoder.next_frame() {
            Ok(Some(raw)) => {
                return Some(decode_raw(raw).map(Some).map_err(|e| self.fail(socket, e)))
            }
            Ok(None) => {}
            Err(e) => return Some(Err(self.fail(socket, e))),
        }
        if self.eof {
            return Some(
                self.decoder
                    .check_eof()
                    .map(|()| None)
                    .map_err(|e| self.fail(socket, e)),
            );
        }
        None
    }

    /// Marks the channel failed and shuts the socket down, so the peer sees
    /// end-of-file.
    fn fail(&mut self, socket: BorrowedFd<'_>, error: ImsgError) -> ImsgError {
        self.failed = true;
        shut_down(socket);
        error
    }
}

/// Both halves of an async channel.
pub struct ImsgChannel<Tx, Rx> {
    reader: ImsgReader<Rx>,
    writer: ImsgWriter<Tx>,
}

impl<Tx, Rx> ImsgChannel<Tx, Rx>
where
    Tx: Serialize,
    Rx: DeserializeOwned + Serialize,
{
    /// Wraps a connected std socket. Must be called inside a tokio runtime;
    /// the socket is switched to non-blocking mode.
    pub fn new(stream: std::os::unix::net::UnixStream) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        Ok(Self::from_tokio(UnixStream::from_std(stream)?))
    }

    /// Wraps a tokio socket, e.g. one accepted on the control socket.
    pub fn from_tokio(stream: UnixStream) -> Self {
        let (read, write) = stream.into_split();
        ImsgChannel {
            reader: ImsgReader::new(read),
            writer: ImsgWriter::new(write),
        }
    }

    /// A connected pair of channels, mostly for tests.
    pub fn pair() -> io::Result<(ImsgChannel<Tx, Rx>, ImsgChannel<Rx, Tx>)>
    where
        Tx: DeserializeOwned,
    {
        let (a, b) = UnixStream::pair()?;
        Ok((ImsgChannel::from_tokio(a), ImsgChannel::from_tokio(b)))
    }

    pub fn split(self) -> (ImsgReader<Rx>, ImsgWriter<Tx>) {
        (self.reader, self.writer)
    }

    /// See [`ImsgWriter::send`].
    pub async fn send(&mut self, msg: &Tx, fd: Option<OwnedFd>) -> Result<(), ImsgError> {
        self.writer.send(msg, fd).await
    }

    /// See [`ImsgWriter::send_to_peer`].
    pub async fn send_to_peer(
        &mut self,
        peer_id: u32,
        msg: &Tx,
        fd: Option<OwnedFd>,
    ) -> Result<(), ImsgError> {
        self.writer.send_to_peer(peer_id, msg, fd).await
    }

    /// See [`ImsgReader::recv`].
    pub async fn recv(&mut self) -> Result<Option<Received<Rx>>, ImsgError> {
        self.reader.recv().await
    }
}

/// The receiving half of a channel.
pub struct ImsgReader<Rx> {
    stream: OwnedReadHalf,
    inbox: Inbox,
    /// How long a frame may take from its first byte to its last, if
    /// limited ([`ImsgReader::limit_frame_time`]).
    frame_limit: Option<Duration>,
    /// When the bytes of the frame not yet complete began to arrive.
    partial_since: Option<Instant>,
    _rx: PhantomData<fn() -> Rx>,
}

impl<Rx: DeserializeOwned + Serialize> ImsgReader<Rx> {
    fn new(stream: OwnedReadHalf) -> Self {
        ImsgReader {
            stream,
            inbox: Inbox::new(),
            frame_limit: None,
            partial_since: None,
            _rx: PhantomData,
        }
    }

    /// From now on a frame must be complete within `limit` of its first
    /// byte, or [`ImsgReader::recv`] fails with [`ImsgError::FrameTimeout`]
    /// (and the socket is shut down). The time counts from the read that
    /// brought the frame's first bytes, however long the peer idled before
    /// and however often `recv` was called and dropped meanwhile: a peer
    /// that stops in the middle of a frame cannot hold the channel.
    pub fn limit_frame_time(&mut self, limit: Duration) {
        self.frame_limit = Some(limit);
    }

    /// The next message; `Ok(None)` once the peer closed the socket cleanly.
    ///
    /// Cancel-safe: dropping the future (e.g. in `tokio::select!`) loses no
    /// data. After an error the socket is shut down and every later call
    /// returns [`ImsgError::Closed`].
    pub async fn recv(&mut self) -> Result<Option<Received<Rx>>, ImsgError> {
        loop {
            if let Some(answer) = self.inbox.buffered(self.stream.as_ref().as_fd()) {
                // What is left began with the last read, at the latest.
                self.partial_since = (self.partial_frame() > 0).then(Instant::now);
                return answer;
            }
            match (self.frame_limit, self.partial_since) {
                (Some(limit), Some(since)) => {
                    match tokio::time::timeout_at((since + limit).into(), self.fill()).await {
                        Ok(filled) => filled?,
                        Err(_) => {
                            let buffered = self.partial_frame();
                            return Err(self.fail(ImsgError::FrameTimeout { buffered, limit }));
                        }
                    }
                }
                _ => self.fill().await?,
            }
            if self.partial_since.is_none() && self.partial_frame() > 0 {
                self.partial_since = Some(Instant::now());
            }
        }
    }

    /// Bytes received that do not make a whole frame yet: a peer that
    /// stopped in the middle of a frame.
    pub fn partial_frame(&self) -> usize {
        self.inbox.decoder.buffered()
    }

    async fn fill(&mut self) -> Result<(), ImsgError> {
        let stream: &UnixStream = self.stream.as_ref();
        loop {
            stream.readable().await.map_err(ImsgError::Io)?;
            let result = stream.try_io(Interest::READABLE, || {
                match recv_into(
                    stream.as_fd(),
                    &mut self.inbox.buffers,
                    &mut self.inbox.decoder,
                ) {
                    Err(ImsgError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Err(e),
                    other => Ok(other),
                }
            });
            match result {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(self.fail(ImsgError::Io(e))),
                Ok(Err(e)) => return Err(self.fail(e)),
                Ok(Ok(0)) => {
                    self.inbox.eof = true;
                    return Ok(());
                }
                Ok(Ok(_)) => return Ok(()),
            }
        }
    }

    fn fail(&mut self, error: ImsgError) -> ImsgError {
        self.inbox.fail(self.stream.as_ref().as_fd(), error)
    }
}

/// The sending half of a channel.
pub struct ImsgWriter<Tx> {
    stream: OwnedWriteHalf,
    pid: u32,
    _tx: PhantomData<fn(Tx)>,
}

impl<Tx: Serialize> ImsgWriter<Tx> {
    fn new(stream: OwnedWriteHalf) -> Self {
        ImsgWriter {
            stream,
            pid: std::process::id(),
            _tx: PhantomData,
        }
    }

    /// Sends `msg` with peer id 0; `fd` travels with the frame and is closed
    /// here once sent (keep a `try_clone` if you still need it).
    ///
    /// Not cancel-safe: dropping the future mid-frame corrupts the stream.
    pub async fn send(&mut self, msg: &Tx, fd: Option<OwnedFd>) -> Result<(), ImsgError> {
        self.send_to_peer(0, msg, fd).await
    }

    /// Like [`send`](Self::send) with the header's `peer_id` set (relayd
    /// puts a process instance or request id there).
    pub async fn send_to_peer(
        &mut self,
        peer_id: u32,
        msg: &Tx,
        fd: Option<OwnedFd>,
    ) -> Result<(), ImsgError> {
        let frame = encode_frame(msg, peer_id, self.pid, fd.is_some())?;
        let stream: &UnixStream = self.stream.as_ref();
        let mut fd = fd;
        let mut written = 0;
        while written < frame.len() {
            stream.writable().await?;
            let sent = stream.try_io(Interest::WRITABLE, || {
                send_with_fd(
                    stream.as_fd(),
                    &frame[written..],
                    fd.as_ref().map(|f| f.as_fd()),
                )
            });
            match sent {
                Ok(0) => return Err(ImsgError::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    written += n;
                    // The descriptor left with the first chunk.
                    fd = None;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(ImsgError::Io(e)),
            }
        }
        Ok(())
    }
}

/// A channel on a blocking std socket, for use without a tokio runtime.
pub struct BlockingChannel<Tx, Rx> {
    stream: std::os::unix::net::UnixStream,
    inbox: Inbox,
    pid: u32,
    _types: PhantomData<fn(Tx) -> Rx>,
}

impl<Tx, Rx> BlockingChannel<Tx, Rx>
where
    Tx: Serialize,
    Rx: DeserializeOwned + Serialize,
{
    pub fn new(stream: std::os::unix::net::UnixStream) -> Self {
        BlockingChannel {
            stream,
            inbox: Inbox::new(),
            pid: std::process::id(),
            _types: PhantomData,
        }
    }

    /// The socket, e.g. to set a read timeout.
    pub fn stream(&self) -> &std::os::unix::net::UnixStream {
        &self.stream
    }

    /// Gives the socket back, e.g. to hand it to [`ImsgChannel::new`] once a
    /// runtime runs. Bytes already buffered are lost, so only call this
    /// between complete exchanges.
    pub fn into_stream(self) -> std::os::unix::net::UnixStream {
        self.stream
    }

    pub fn send(&mut self, msg: &Tx, fd: Option<OwnedFd>) -> Result<(), ImsgError> {
        self.send_to_peer(0, msg, fd)
    }

    pub fn send_to_peer(
        &mut self,
        peer_id: u32,
        msg: &Tx,
        fd: Option<OwnedFd>,
    ) -> Result<(), ImsgError> {
        let frame = encode_frame(msg, peer_id, self.pid, fd.is_some())?;
        let mut fd = fd;
        let mut written = 0;
        while written < frame.len() {
            let n = send_with_fd(
                self.stream.as_fd(),
                &frame[written..],
                fd.as_ref().map(|f| f.as_fd()),
            )?;
            if n == 0 {
                return Err(ImsgError::Io(io::ErrorKind::WriteZero.into()));
            }
            written += n;
            fd = None;
        }
        Ok(())
    }

    /// The next message; `Ok(None)` on clean end-of-file. A read timeout set
    /// on the socket surfaces as `ImsgError::Io` with kind `WouldBlock` or
    /// `TimedOut` and leaves the channel usable.
    pub fn recv(&mut self) -> Result<Option<Received<Rx>>, ImsgError> {
        loop {
            if let Some(answer) = self.inbox.buffered(self.stream.as_fd()) {
                return answer;
            }
            match recv_into(
                self.stream.as_fd(),
                &mut self.inbox.buffers,
                &mut self.inbox.decoder,
            ) {
                Ok(0) => self.inbox.eof = true,
                Ok(_) => {}
                Err(ImsgError::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ImsgError::Io(e))
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    fn fail(&mut self, error: ImsgError) -> ImsgError {
        self.inbox.fail(self.stream.as_fd(), error)
    }
}
