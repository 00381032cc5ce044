//! One side of an HTTP session: its transport (plain TCP, or a layered
//! stream such as TLS) and what has been read from it but not yet
//! forwarded. Heads are parsed in place in this buffer and, when no rule
//! changes them, written out from it unchanged, together with the body
//! bytes that came in the same read.

use super::buffer::{Buffer, INITIAL_CAPACITY};
use crate::relay::core::clock::Tally;
use crate::relay::core::stream::Transport;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{sleep_until, Instant, Sleep};

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

/// What came first while writing to a peer that may speak.
pub enum WriteOrRead {
    /// Some bytes were written.
    Wrote(io::Result<usize>),
    /// The peer sent something (or closed, `Ok(0)`), now buffered.
    Heard(io::Result<usize>),
}

pub struct Wire {
    pub stream: Transport,
    buffer: Buffer,
    /// Bytes before `start` were consumed.
    start: usize,
    /// TCP_NODELAY is still to be set when a body streams (the protocol's
    /// `tcp { [no] nodelay }` left it to us).
    nodelay_pending: bool,
    /// How long a write may wait for the peer to read (`session timeout`).
    write_timeout: Duration,
    /// Where the bytes written to this side count: the relay's `in` for a
    /// backend, `out` for the client. Counted per write, not per byte.
    tally: Option<Tally>,
    /// The deadline of a read that waits, one timer for the wire's life
    /// (made at the first read that waits): moving it later is an atomic
    /// store in tokio, where a timer per read was an insertion into the
    /// timer wheel and a removal, under the driver's lock, per request.
    read_timer: Option<Pin<Box<Sleep>>>,
}

impl Wire {
    /// `nodelay` is the protocol's `tcp { [no] nodelay }`, already applied;
    /// `write_timeout` the relay's session timeout.
    pub fn new(stream: Transport, nodelay: Option<bool>, write_timeout: Duration) -> Wire {
        Wire {
            stream,
            buffer: Buffer::new(),
            start: 0,
            nodelay_pending: nodelay.is_none(),
            write_timeout,
            tally: None,
            read_timer: None,
        }
    }

    /// Bytes written to this side from now on count into `tally` (a
    /// pooled backend connection counts for the session that uses it).
    pub fn count_as(&mut self, tally: Option<Tally>) {
        self.tally = tally;
    }

    /// The transport with its writes counted, for a tunnel that moves
    /// bytes by other means than this wire (an upgraded session).
    pub fn counted(&mut self) -> super::tunnel::CountedWrites<'_> {
        super::tunnel::CountedWrites {
            stream: &mut self.stream,
            tally: self.tally.as_ref(),
        }
    }

    /// `n` bytes went to this side by other means (splice(2)).
    pub fn count(&self, n: u64) {
        if let Some(tally) = &self.tally {
            tally.add(n);
        }
    }

    /// A body goes out in several writes: without TCP_NODELAY its last
    /// small piece would wait for the peer's delayed ACK (40 ms). A head
    /// and body sent in one write do not need it, so short exchanges skip
    /// the system call.
    pub fn streaming(&mut self) {
        if std::mem::take(&mut self.nodelay_pending) {
            if let Some(socket) = self.stream.socket() {
                let _ = socket.set_nodelay(true);
            }
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
        self.fill_by(|| Instant::now() + timeout).await
    }

    /// As `fill`, waiting until the instant `deadline` names, which is
    /// worked out only if the read has to wait: a caller with a deadline
    /// of its own reads the clock once, not once here and once there.
    pub async fn fill_by(&mut self, deadline: impl FnMut() -> Instant) -> Result<usize, ReadError> {
        self.make_room(INITIAL_CAPACITY);
        self.read_into_spare(deadline).await
    }

    /// As `fill`, with the larger buffer bodies stream through.
    pub async fn fill_streaming(&mut self, timeout: Duration) -> Result<usize, ReadError> {
        self.make_room(STREAMING_CAPACITY);
        self.read_into_spare(|| Instant::now() + timeout).await
    }

    /// Reads once more, however long that takes: for a side that is only
    /// watched while the caller waits on something else with a deadline.
    pub async fn fill_untimed(&mut self) -> io::Result<usize> {
        self.make_room(INITIAL_CAPACITY);
        self.stream.read_buf(&mut *self.buffer).await
    }

    /// As `tokio::time::timeout` around the read: the read is tried
    /// first, and the deadline is only worked out (the clock only read)
    /// if it waits.
    async fn read_into_spare(
        &mut self,
        mut work_out_deadline: impl FnMut() -> Instant,
    ) -> Result<usize, ReadError> {
        let mut deadline = None;
        let Wire {
            stream,
            buffer,
            read_timer,
            ..
        } = self;
        poll_fn(|cx| {
            if let Poll::Ready(read) = pin!(stream.read_buf(&mut **buffer)).poll(cx) {
                return Poll::Ready(read.map_err(ReadError::Io));
            }
            let deadline = *deadline.get_or_insert_with(&mut work_out_deadline);
            let timer = read_timer.get_or_insert_with(|| Box::pin(sleep_until(deadline)));
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            timer.as_mut().poll(cx).map(|()| Err(ReadError::Timeout))
        })
        .await
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
            let len = self.buffer.len();
            let target = capacity.max(len + wanted);
            self.buffer.reserve(target - len);
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
    pub async fn try_fill(&mut self) -> io::Result<Option<usize>> {
        self.make_room(INITIAL_CAPACITY);
        now_or_never(self.stream.read_buf(&mut *self.buffer))
            .await
            .transpose()
    }

    /// Writes some of `bytes`, unless the peer has something to say first
    /// (an early answer, a close): then that is read into the buffer and
    /// nothing is written. The peer is heard first.
    pub async fn write_or_read(&mut self, bytes: &[u8]) -> WriteOrRead {
        self.make_room(INITIAL_CAPACITY);
        let result = poll_fn(|cx| {
            let read = pin!(self.stream.read_buf(&mut *self.buffer)).poll(cx);
            if let Poll::Ready(read) = read {
                return Poll::Ready(WriteOrRead::Heard(read));
            }
            std::pin::Pin::new(&mut self.stream)
                .poll_write(cx, bytes)
                .map(WriteOrRead::Wrote)
        })
        .await;
        if let WriteOrRead::Wrote(Ok(n)) = &result {
            self.count(*n as u64);
        }
        result
    }

    /// Writes all of `bytes`. A peer that stops reading has the session
    /// timeout to take them; the timer is only armed when the socket is
    /// full, so the usual write costs no timer.
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_within(&mut self.stream, bytes, self.write_timeout).await?;
        self.count(bytes.len() as u64);
        Ok(())
    }

    /// Writes the first `n` buffered bytes to `to` and consumes them.
    pub async fn forward(&mut self, n: usize, to: &mut Wire) -> io::Result<()> {
        let bytes = &self.buffer[self.start..self.start + n];
        write_within(&mut to.stream, bytes, to.write_timeout).await?;
        to.count(n as u64);
        self.consume(n);
        Ok(())
    }

    /// A fresh socket is registered with the runtime, as splicing needs.
    pub fn register(&mut self) -> io::Result<()> {
        self.stream.register()
    }

    /// Closes the sending side (FIN; for TLS, close_notify first).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.stream.shutdown().await
    }
}

/// Polls `future` once, in the calling task: its result if it is ready,
/// `None` if it would wait. A read or write that would wait leaves only a
/// wake-up behind, which the task's next wait absorbs.
async fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    poll_fn(|cx| match future.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// Writes what fits without waiting: `None` if nothing would. A plain
/// socket is tried directly (the hot path: no future, no task budget); a
/// layered stream is polled once.
async fn write_now(stream: &mut Transport, bytes: &[u8]) -> Option<io::Result<usize>> {
    match stream {
        Transport::Tcp(tcp) => match tcp.try_write(bytes) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            written => Some(written),
        },
        Transport::Fresh(fresh) => match fresh.write(bytes) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            written => Some(written),
        },
        Transport::Layered(_) => now_or_never(stream.write(bytes)).await,
    }
}

async fn write_within(stream: &mut Transport, bytes: &[u8], timeout: Duration) -> io::Result<()> {
    let mut written = 0;
    while written < bytes.len() {
        match write_now(stream, &bytes[written..]).await {
            Some(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Some(Ok(n)) => written += n,
            Some(Err(e)) => return Err(e),
            None => {
                let rest = &bytes[written..];
                return match tokio::time::timeout(timeout, stream.write_all(rest)).await {
                    Ok(result) => result,
                    Err(_) => Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "peer stopped reading",
                    )),
                };
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one read timer keeps each read's own deadline, later or
    /// earlier than the last one, and a read that gets bytes is not cut.
    #[tokio::test]
    async fn each_read_waits_its_own_timeout_on_the_one_timer() {
        let ms = Duration::from_millis;
        let (near, mut far) = tokio::io::duplex(64);
        let mut wire = Wire::new(Transport::Layered(Box::new(near)), None, ms(1000));
        let started = Instant::now();
        assert!(matches!(wire.fill(ms(400)).await, Err(ReadError::Timeout)));
        waited(started, ms(400));
        let started = Instant::now();
        assert!(matches!(wire.fill(ms(100)).await, Err(ReadError::Timeout)));
        waited(started, ms(100));
        let sent = async {
            tokio::time::sleep(ms(150)).await;
            far.write_all(b"late").await.unwrap();
        };
        let (read, ()) = tokio::join!(wire.fill(ms(5000)), sent);
        assert!(matches!(read, Ok(4)), "{read:?}");
        assert_eq!(wire.buffered(), b"late");
        let started = Instant::now();
        assert!(matches!(wire.fill(ms(200)).await, Err(ReadError::Timeout)));
        waited(started, ms(200));
    }

    /// At least the timeout, and not much more (the machine is shared).
    fn waited(started: Instant, wanted: Duration) {
        let elapsed = started.elapsed();
        let late = wanted + Duration::from_millis(300);
        assert!(elapsed >= wanted && elapsed < late, "{elapsed:?}");
    }
}
