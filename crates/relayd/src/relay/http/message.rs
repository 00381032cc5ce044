//! Moving one message (head and body) from one side to the other without
//! holding the body: bytes go out as they come in, in the framing the
//! head announced. A head nobody rewrote leaves together with the body
//! bytes that arrived with it, in one write; between two plain sockets the
//! rest of a sized body, and the data of each chunk, move with splice(2)
//! (`spliced.rs`).

use super::chunked::{ChunkError, ChunkScanner};
use super::head::Framing;
use super::spliced::{BodySplice, SpliceFailed, Step};
use super::wire::{ReadError, Wire, WriteOrRead};
use crate::relay::core::stream::Transport;
use crate::relay::tcp::splice::PipePool;
use std::io;
use std::time::Duration;
use tokio::net::TcpStream;

/// What goes out before the body.
pub enum Head {
    /// The first `len` buffered bytes, unchanged.
    Buffered(usize),
    /// A rewritten head replacing the first `len` buffered bytes.
    Rewritten { len: usize, bytes: Vec<u8> },
}

/// Why a message could not be moved; says which side failed.
#[derive(Debug)]
pub enum MessageError {
    Read(ReadError),
    /// The sender closed before the body was complete.
    Truncated,
    Write(io::Error),
    Chunk(ChunkError),
}

/// How much of a body is still to come.
#[derive(Debug)]
pub enum Body {
    Length(u64),
    Chunked(ChunkScanner),
    UntilClose,
    Done,
}

impl Body {
    pub fn new(framing: Framing) -> Body {
        match framing {
            Framing::Empty | Framing::Length(0) => Body::Done,
            Framing::Length(n) => Body::Length(n),
            Framing::Chunked => Body::Chunked(ChunkScanner::default()),
            Framing::UntilClose => Body::UntilClose,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, Body::Done)
    }

    /// Body bytes that come next and may move unseen: the rest of a sized
    /// body, the rest of a chunk's data.
    pub fn splice_left(&self) -> u64 {
        match self {
            Body::Length(left) => *left,
            Body::Chunked(scanner) => scanner.data_left(),
            Body::UntilClose | Body::Done => 0,
        }
    }

    /// `n` of the [`splice_left`](Self::splice_left) bytes went by.
    pub fn advance(&mut self, n: u64) {
        match self {
            Body::Length(left) => {
                *left -= n.min(*left);
                if *left == 0 {
                    *self = Body::Done;
                }
            }
            Body::Chunked(scanner) => scanner.skip_data(n),
            Body::UntilClose | Body::Done => {}
        }
    }

    /// How many bytes of `available` belong to the body.
    pub fn take(&mut self, available: &[u8]) -> Result<usize, ChunkError> {
        let taken = match self {
            Body::Done => 0,
            Body::UntilClose => available.len(),
            Body::Length(left) => {
                let taken = (*left).min(available.len() as u64);
                *left -= taken;
                if *left == 0 {
                    *self = Body::Done;
                }
                taken as usize
            }
            Body::Chunked(scanner) => {
                let taken = scanner.scan(available)?;
                if scanner.is_done() {
                    *self = Body::Done;
                }
                taken
            }
        };
        Ok(taken)
    }
}

impl From<SpliceFailed> for MessageError {
    fn from(failed: SpliceFailed) -> MessageError {
        match failed {
            // Only ever a signal to copy instead; never passed on.
            SpliceFailed::Unsupported => MessageError::Write(io::ErrorKind::Unsupported.into()),
            SpliceFailed::Truncated => MessageError::Truncated,
            SpliceFailed::Read(e) => MessageError::Read(e),
            SpliceFailed::Write(e) => MessageError::Write(e),
        }
    }
}

/// The two plain sockets of `from` and `to`, if both are plain.
pub fn plain_pair<'a>(from: &'a Wire, to: &'a Wire) -> Option<(&'a TcpStream, &'a TcpStream)> {
    match (&from.stream, &to.stream) {
        (Transport::Tcp(src), Transport::Tcp(dst)) => Some((src, dst)),
        _ => None,
    }
}

/// A request body on its way while the backend is watched: what is still
/// to come, how many bytes at the front of the client's buffer belong
/// to it but are not written yet (the backend answered in between), and
/// what is in its splice pipe.
pub struct Outgoing {
    pub body: Body,
    unsent: usize,
    pub splice: BodySplice,
}

/// How forwarding the buffered body bytes went.
pub enum Watched {
    Forwarded,
    /// The backend sent something (or closed) first: the answer decides.
    PeerSpoke,
}

impl Outgoing {
    /// `splice`: the protocol's `tcp { [no] splice }`.
    pub fn new(framing: Framing, splice: bool) -> Outgoing {
        Outgoing {
            body: Body::new(framing),
            unsent: 0,
            splice: BodySplice::new(splice),
        }
    }

    pub fn is_done(&self) -> bool {
        self.body.is_done() && self.unsent == 0 && !self.splice.holding()
    }

    /// Whether the next body bytes may move with splice (nothing of the
    /// body is buffered).
    pub fn spliceable(&self, from: &Wire) -> bool {
        self.splice.holding()
            || (self.unsent == 0
                && from.buffered().is_empty()
                && self.splice.usable()
                && self.body.splice_left() > 0)
    }

    /// Counts what of the newly buffered bytes belongs to the body.
    pub fn take(&mut self, from: &Wire) -> Result<(), ChunkError> {
        let fresh = &from.buffered()[self.unsent..];
        self.unsent += self.body.take(fresh)?;
        Ok(())
    }

    /// Writes the unsent body bytes to `to` while watching it: a backend
    /// that answers early, or stops reading and answers, is heard instead
    /// of being written to until the timeout.
    pub async fn flush_watching(
        &mut self,
        from: &mut Wire,
        to: &mut Wire,
        timeout: Duration,
    ) -> Result<Watched, MessageError> {
        if self.unsent > 0 {
            to.streaming();
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        while self.unsent > 0 {
            let step = tokio::select! {
                biased;
                step = to.write_or_read(&from.buffered()[..self.unsent]) => step,
                _ = &mut deadline => {
                    return Err(MessageError::Write(io::ErrorKind::TimedOut.into()));
                }
            };
            match step {
                WriteOrRead::Heard(Ok(_)) => return Ok(Watched::PeerSpoke),
                WriteOrRead::Heard(Err(e)) => return Err(MessageError::Write(e)),
                WriteOrRead::Wrote(Ok(0)) => {
                    return Err(MessageError::Write(io::ErrorKind::WriteZero.into()))
                }
                WriteOrRead::Wrote(Ok(n)) => {
                    from.consume(n);
                    self.unsent -= n;
                }
                // It may have answered before it went away.
                WriteOrRead::Wrote(Err(e)) => {
                    return match to.try_fill().await {
                        Ok(Some(n)) if n > 0 => Ok(Watched::PeerSpoke),
                        _ => Err(MessageError::Write(e)),
                    }
                }
            }
        }
        Ok(Watched::Forwarded)
    }
}

/// Writes `head` and whatever of the body is already buffered.
pub async fn send_head(
    from: &mut Wire,
    to: &mut Wire,
    head: Head,
    body: &mut Body,
) -> Result<(), MessageError> {
    match head {
        Head::Buffered(len) => {
            let taken = body
                .take(&from.buffered()[len..])
                .map_err(MessageError::Chunk)?;
            from.forward(len + taken, to)
                .await
                .map_err(MessageError::Write)
        }
        Head::Rewritten { len, mut bytes } => {
            from.consume(len);
            let taken = body.take(from.buffered()).map_err(MessageError::Chunk)?;
            bytes.extend_from_slice(&from.buffered()[..taken]);
            from.consume(taken);
            to.write_all(&bytes).await.map_err(MessageError::Write)
        }
    }
}

/// Reads once from `from` and forwards what belongs to `body`.
async fn pump_once(
    from: &mut Wire,
    to: &mut Wire,
    body: &mut Body,
    timeout: Duration,
) -> Result<(), MessageError> {
    let read = from
        .fill_streaming(timeout)
        .await
        .map_err(MessageError::Read)?;
    forward_read(from, to, body, read).await
}

/// Forwards the part of the `read` bytes just buffered in `from` that
/// belongs to `body`; at end of stream only a close-delimited body ends
/// well.
async fn forward_read(
    from: &mut Wire,
    to: &mut Wire,
    body: &mut Body,
    read: usize,
) -> Result<(), MessageError> {
    if read == 0 {
        return match body {
            Body::UntilClose => {
                *body = Body::Done;
                Ok(())
            }
            _ => Err(MessageError::Truncated),
        };
    }
    let taken = body.take(from.buffered()).map_err(MessageError::Chunk)?;
    from.forward(taken, to).await.map_err(MessageError::Write)
}

/// Moves a whole message: its head, then the rest of its body, with
/// splice(2) through `pipes` (if given) where both sides are plain.
pub async fn send(
    from: &mut Wire,
    to: &mut Wire,
    head: Head,
    framing: Framing,
    timeout: Duration,
    pipes: Option<&PipePool>,
) -> Result<(), MessageError> {
    let mut body = Body::new(framing);
    send_head(from, to, head, &mut body).await?;
    if !body.is_done() {
        to.streaming();
    }
    let mut spliced = BodySplice::new(pipes.is_some());
    while !body.is_done() || spliced.holding() {
        let spliceable = spliced.holding()
            || (spliced.usable() && from.buffered().is_empty() && body.splice_left() > 0);
        if spliceable && pipes.is_some() {
            // Splicing waits on the sockets' readiness in the runtime.
            from.register()
                .map_err(|e| MessageError::Read(ReadError::Io(e)))?;
            to.register().map_err(MessageError::Write)?;
        }
        let pair = plain_pair(from, to).filter(|_| spliceable);
        if let Some(((src, dst), pipes)) = pair.zip(pipes) {
            match spliced
                .step(pipes, src, dst, body.splice_left(), timeout)
                .await
            {
                Ok(Step::Filled(n)) => {
                    // What enters the pipe goes to `to` (or the session
                    // fails): counted once, here.
                    to.count(n);
                    body.advance(n);
                }
                Ok(Step::Drained) | Err(SpliceFailed::Unsupported) => {}
                Err(e) => return Err(e.into()),
            }
            continue;
        }
        pump_once(from, to, &mut body, timeout).await?;
    }
    from.settle();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::http::testing::{wire, ROOM};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn a_length_body_follows_its_head_and_a_pipelined_request_stays() {
        let (mut from, mut sender) = wire(ROOM);
        let (mut to, mut receiver) = wire(ROOM);
        let head = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n";
        sender.write_all(head).await.unwrap();
        sender.write_all(b"01234").await.unwrap();
        from.fill(SECOND).await.unwrap();
        let moving = send(
            &mut from,
            &mut to,
            Head::Buffered(head.len()),
            Framing::Length(10),
            SECOND,
            None,
        );
        let late = async {
            sender.write_all(b"56789GET /next").await.unwrap();
        };
        let (sent, ()) = tokio::join!(moving, late);
        assert!(sent.is_ok(), "{sent:?}");
        assert_eq!(from.buffered(), b"GET /next", "the next request stays");
        drop(to);
        let mut got = Vec::new();
        receiver.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, [&head[..], b"0123456789"].concat());
    }

    #[tokio::test]
    async fn a_rewritten_head_replaces_the_buffered_one() {
        let (mut from, mut sender) = wire(ROOM);
        let (mut to, mut receiver) = wire(ROOM);
        sender
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await
            .unwrap();
        from.fill(SECOND).await.unwrap();
        let head = Head::Rewritten {
            len: 38,
            bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-New: 1\r\n\r\n".to_vec(),
        };
        let sent = send(&mut from, &mut to, head, Framing::Length(2), SECOND, None).await;
        assert!(sent.is_ok(), "{sent:?}");
        drop(to);
        let mut got = Vec::new();
        receiver.read_to_end(&mut got).await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-New: 1\r\n\r\nok"
        );
    }

    #[tokio::test]
    async fn a_body_cut_short_is_truncated_and_bad_chunks_are_refused() {
        let (mut from, mut sender) = wire(ROOM);
        let (mut to, _receiver) = wire(ROOM);
        sender.write_all(b"abc").await.unwrap();
        drop(sender);
        let sent = send(
            &mut from,
            &mut to,
            Head::Buffered(0),
            Framing::Length(10),
            SECOND,
            None,
        )
        .await;
        assert!(matches!(sent, Err(MessageError::Truncated)), "{sent:?}");

        let (mut from, mut sender) = wire(ROOM);
        sender.write_all(b"zz\r\n").await.unwrap();
        from.fill(SECOND).await.unwrap();
        let sent = send(
            &mut from,
            &mut to,
            Head::Buffered(0),
            Framing::Chunked,
            SECOND,
            None,
        )
        .await;
        assert!(matches!(sent, Err(MessageError::Chunk(_))), "{sent:?}");
    }

    #[tokio::test]
    async fn a_peer_that_answers_instead_of_reading_is_heard() {
        let (mut from, mut sender) = wire(ROOM);
        // Room for 16 bytes only: the body cannot all go out.
        let (mut to, mut backend) = wire(16);
        let mut outgoing = Outgoing::new(Framing::Length(1000), false);
        sender.write_all(&[b'x'; 1000]).await.unwrap();
        from.fill(SECOND).await.unwrap();
        outgoing.take(&from).unwrap();
        backend.write_all(b"HTTP/1.1 413").await.unwrap();
        let watched = outgoing.flush_watching(&mut from, &mut to, SECOND).await;
        assert!(matches!(watched, Ok(Watched::PeerSpoke)), "heard first");
        assert_eq!(to.buffered(), b"HTTP/1.1 413");
        assert!(!outgoing.is_done());
    }
}
