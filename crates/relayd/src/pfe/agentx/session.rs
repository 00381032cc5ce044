//! One AgentX connection to the master: a reader task that frames PDUs
//! (the header's length, at most `relayd_agentx::MAX_PDU`, checked before
//! the payload is read) and hands them to the pfe's loop, and a writer
//! task fed through a bounded queue, so a master that stops reading never
//! blocks the pfe. Either end failing ends the connection; the subagent
//! then asks the parent for a new one.

use relayd_agentx::pdu::{self, Header, HEADER_LEN};
use relayd_agentx::Pdu;
use std::os::fd::OwnedFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// PDUs waiting to be written; more means the master stopped reading.
const WRITE_QUEUE: usize = 64;

/// What a connection's reader reports, with the connection's number.
#[derive(Debug)]
pub struct SessionEvent {
    pub connection: u64,
    pub what: Received,
}

#[derive(Debug)]
pub enum Received {
    Pdu(Header, Pdu),
    /// The connection is over; why.
    Ended(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot use the master's socket: {0}")]
    Socket(#[from] std::io::Error),
    #[error("the master does not read what relayd sends")]
    Stuck,
    #[error("the connection to the master is closed")]
    Closed,
}

/// A live connection: dropping it ends both tasks.
pub struct Connection {
    pub number: u64,
    writer: mpsc::Sender<Vec<u8>>,
    tasks: [JoinHandle<()>; 2],
}

impl Connection {
    /// Takes the connected socket the parent passed.
    pub fn start(
        fd: OwnedFd,
        number: u64,
        events: impl Fn(SessionEvent) -> bool + Send + 'static,
    ) -> Result<Connection, SessionError> {
        let stream = std::os::unix::net::UnixStream::from(fd);
        stream.set_nonblocking(true)?;
        let (read, write) = UnixStream::from_std(stream)?.into_split();
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        let reader = tokio::spawn(read_loop(read, number, events));
        let writer_task = tokio::spawn(write_loop(write, queue));
        Ok(Connection {
            number,
            writer,
            tasks: [reader, writer_task],
        })
    }

    pub fn send(&self, bytes: Vec<u8>) -> Result<(), SessionError> {
        self.writer.try_send(bytes).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SessionError::Stuck,
            mpsc::error::TrySendError::Closed(_) => SessionError::Closed,
        })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The writer may still flush a last Close: it ends on its own when
        // the queue closes; the reader is stopped now.
        self.tasks[0].abort();
    }
}

async fn read_loop(
    mut read: OwnedReadHalf,
    connection: u64,
    events: impl Fn(SessionEvent) -> bool,
) {
    let why = loop {
        match read_pdu(&mut read).await {
            Ok((header, pdu)) => {
                let event = SessionEvent {
                    connection,
                    what: Received::Pdu(header, pdu),
                };
                if !events(event) {
                    return;
                }
            }
            Err(why) => break why,
        }
    };
    events(SessionEvent {
        connection,
        what: Received::Ended(why),
    });
}

async fn read_pdu(read: &mut OwnedReadHalf) -> Result<(Header, Pdu), String> {
    let mut head = [0u8; HEADER_LEN];
    match read.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err("the master closed the connection".to_string())
        }
        Err(e) => return Err(format!("reading from the master: {e}")),
    }
    let header = Header::decode(&head).map_err(|e| format!("a PDU from the master: {e}"))?;
    // At most MAX_PDU: Header::decode checked it.
    let mut payload = vec![0u8; header.payload_length as usize];
    read.read_exact(&mut payload)
        .await
        .map_err(|e| format!("reading from the master: {e}"))?;
    let pdu = pdu::decode(&header, &payload)
        .map_err(|e| format!("a {:?} PDU from the master: {e}", header.pdu_type))?;
    Ok((header, pdu))
}

async fn write_loop(mut write: OwnedWriteHalf, mut queue: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = queue.recv().await {
        if let Err(e) = write.write_all(&bytes).await {
            tracing::debug!("agentx: writing to the master: {e}");
            return;
        }
    }
}
