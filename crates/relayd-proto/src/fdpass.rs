//! The two system calls under every channel: `sendmsg` with at most one
//! descriptor attached, and `recvmsg` that feeds bytes and descriptors into a
//! [`FrameDecoder`]. Both work on blocking and non-blocking sockets alike;
//! `WouldBlock` is returned as an `io::Error` for the async layer to handle.

use crate::error::ImsgError;
use crate::frame::FrameDecoder;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Linux refuses more than this many descriptors in one message (SCM_MAX_FD),
/// so a control buffer of this size can never be truncated.
const MAX_FDS_PER_MESSAGE: usize = 253;

/// Size of one `recvmsg` read.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    /// The buffers every channel of a thread reads into (bytes, then room
    /// for the descriptors of one message): the bytes are copied into the
    /// channel's decoder at once, so a channel holds only what it has not
    /// decoded yet and a thousand idle control connections cost no read
    /// buffers.
    static READ_BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = std::cell::RefCell::new((
        vec![0u8; READ_CHUNK],
        nix::cmsg_space!([RawFd; MAX_FDS_PER_MESSAGE]),
    ));
}

/// What [`recv_into`] keeps per channel: nothing (the read buffers are the
/// thread's).
pub(crate) struct RecvBuffers;

impl RecvBuffers {
    pub(crate) fn new() -> Self {
        RecvBuffers
    }
}

/// Sends `data`, attaching `fd` (if any) to its first byte. Returns how many
/// bytes went out; the caller sends the rest without the descriptor.
/// `MSG_NOSIGNAL`: a vanished peer is an error, not a SIGPIPE.
pub(crate) fn send_with_fd(
    socket: BorrowedFd<'_>,
    data: &[u8],
    fd: Option<BorrowedFd<'_>>,
) -> io::Result<usize> {
    let iov = [IoSlice::new(data)];
    let raw_fds: Vec<RawFd> = fd.iter().map(|fd| fd.as_raw_fd()).collect();
    let rights = [ControlMessage::ScmRights(&raw_fds)];
    let cmsgs: &[ControlMessage] = if raw_fds.is_empty() { &[] } else { &rights };
    loop {
        match sendmsg::<()>(
            socket.as_raw_fd(),
            &iov,
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// Reads once from `socket` into `decoder`. Returns the number of bytes read;
/// 0 means end-of-file. Received descriptors are close-on-exec; each
/// `SCM_RIGHTS` message contributes only its first descriptor (the protocol
/// sends one per frame), any others are closed at once.
pub(crate) fn recv_into(
    socket: BorrowedFd<'_>,
    buffers: &mut RecvBuffers,
    decoder: &mut FrameDecoder,
) -> Result<usize, ImsgError> {
    let RecvBuffers = buffers;
    READ_BUFFERS.with_borrow_mut(|(data, control)| recv_with(socket, data, control, decoder))
}

fn recv_with(
    socket: BorrowedFd<'_>,
    data: &mut [u8],
    control: &mut Vec<u8>,
    decoder: &mut FrameDecoder,
) -> Result<usize, ImsgError> {
    let (bytes, truncated, received) = {
        let mut iov = [IoSliceMut::new(data)];
        let msg = loop {
            match recvmsg::<()>(
                socket.as_raw_fd(),
                &mut iov,
                Some(control),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.map_err(io::Error::from)?,
            }
        };
        // Take ownership of every descriptor first, so none leaks on any error.
        let mut received: Vec<Vec<OwnedFd>> = Vec::new();
        if let Ok(cmsgs) = msg.cmsgs() {
            for cmsg in cmsgs {
                if let ControlMessageOwned::ScmRights(fds) = cmsg {
                    // SAFETY: the kernel just installed these descriptors in
                    // our table for us; nothing else refers to them.
                    received.push(
                        fds.into_iter()
                            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
                            .collect(),
                    );
                }
            }
        }
        (
            msg.bytes,
            msg.flags.contains(MsgFlags::MSG_CTRUNC),
            received,
        )
    };
    if truncated {
        return Err(ImsgError::ControlTruncated);
    }
    decoder.push_bytes(&data[..bytes]);
    for fds in received {
        // Dropping the rest of the iterator closes the extra descriptors.
        if let Some(first) = fds.into_iter().next() {
            decoder.push_fd(first);
        }
    }
    Ok(bytes)
}
