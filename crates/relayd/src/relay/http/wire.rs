//! One side of an HTTP session: the socket and what has been read from it
//! but not yet forwarded. Heads are parsed in place in this buffer and,
//! when no rule changes them, written out from it unchanged, together
//! with the body bytes that came in the same read.

use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Room for a typical head plus a small body in one read.
const INITIAL_CAPACITY: usize = 16 * 1024;
/// Bodies stream through a larger buffer: fewer system calls per MiB
/// (a quarter of the 1 MiB bench body per read). It shrinks back once the
/// body is through, so only sessions moving a body hold it.
const STREAMING_CAPACITY: usize = 256 * 1024;

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing arrived within the session timeout.
    Timeout,
    Io(io::Error),
}

pub struct Wire {
    pub stream: TcpStream,
    buffer: Vec<u8>,
    /// Bytes before `start` were consumed.
    start: usize,
    /// TCP_NODELAY is still to be set when a body streams (the protocol's
    /// `tcp { [no] nodelay }` left it to us).
    nodelay_pending: bool,
    /// How long a write may wait for the peer to read (`session timeout`).
    write_timeout: Duration,
}

impl Wire {
    /// `nodelay` is the protocol's `tcp { [no] nodelay }`, already applied;
    /// `write_timeout` the relay's session timeout.
    pub fn new(stream: TcpStream, nodelay: Option<bool>, write_timeout: Duration) -> Wire {
        Wire {
            stream,
            buffer: Vec::with_capacity(INITIAL_CAPACITY),
            start: 0,
            nodelay_pending: nodelay.is_none(),
            write_timeout,
        }
    }

    /// A body goes out in several writes: without TCP_NODELAY its last
    /// small piece would wait for the peer's delayed ACK (40 ms). A head
    /// and body sent in one write do not need it, so short exchanges skip
    /// the system call.
    pub fn streaming(&mut self) {
        if std::mem::take(&mut self.nodelay_pending) {
            let _ = self.stream.set_nodelay(true);
        }
    }

    /// What was read and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buffer[self.start..]
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.buffer.len() - self.start);
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
    }

    /// Reads once more, waiting at most `timeout`; `Ok(0)` at end of stream.
    pub async fn fill(&mut self, timeout: Duration) -> Result<usize, ReadError> {
        self.make_room(INITIAL_CAPACITY);
        self.read_into_spare(timeout).await
    }

    /// As `fill`, with the larger buffer bodies stream through.
    pub async fn fill_streaming(&mut self, timeout: Duration) -> Result<usize, ReadError> {
        self.make_room(STREAMING_CAPACITY);
        self.read_into_spare(timeout).await
    }

    async fn read_into_spare(&mut self, timeout: Duration) -> Result<usize, ReadError> {
        match tokio::time::timeout(timeout, self.stream.read_buf(&mut self.buffer)).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(ReadError::Io(e)),
            Err(_) => Err(ReadError::Timeout),
        }
    }

    /// Makes sure a read has room for a quarter of `capacity` at least:
    /// moves unconsumed bytes to the front first, grows only when that is
    /// not enough.
    fn make_room(&mut self, capacity: usize) {
        let wanted = capacity / 4;
        let spare = |b: &Vec<u8>| b.capacity() - b.len();
        if spare(&self.buffer) < wanted && self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        if spare(&self.buffer) < wanted {
            let target = capacity.max(self.buffer.len() + wanted);
            self.buffer.reserve(target - self.buffer.len());
        }
    }

    /// A body is through: the streaming buffer goes back to its first size.
    pub fn settle(&mut self) {
        if self.buffer.capacity() > INITIAL_CAPACITY && self.buffered().len() <= INITIAL_CAPACITY {
            self.buffer.drain(..self.start);
            self.start = 0;
            self.buffer.shrink_to(INITIAL_CAPACITY);
        }
    }

    /// Reads what is there without waiting: `Ok(None)` if nothing was.
    pub fn try_fill(&mut self) -> io::Result<Option<usize>> {
        self.make_room(INITIAL_CAPACITY);
        match self.stream.try_read_buf(&mut self.buffer) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes all of `bytes`. A peer that stops reading has the session
    /// timeout to take them; the timer is only armed when the socket is
    /// full, so the usual write costs no timer.
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_within(&mut self.stream, bytes, self.write_timeout).await
    }

    /// Writes the first `n` buffered bytes to `to` and consumes them.
    pub async fn forward(&mut self, n: usize, to: &mut Wire) -> io::Result<()> {
        let bytes = &self.buffer[self.start..self.start + n];
        write_within(&mut to.stream, bytes, to.write_timeout).await?;
        self.consume(n);
        Ok(())
    }
}

async fn write_within(stream: &mut TcpStream, bytes: &[u8], timeout: Duration) -> io::Result<()> {
    let mut written = 0;
    while written < bytes.len() {
        match stream.try_write(&bytes[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let rest = &bytes[written..];
                return match tokio::time::timeout(timeout, stream.write_all(rest)).await {
                    Ok(result) => result,
                    Err(_) => Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "peer stopped reading",
                    )),
                };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
