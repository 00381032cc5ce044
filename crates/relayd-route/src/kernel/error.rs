//! Why a route could not be listed or changed, with the route and the
//! kernel's own reason when it gives one.

use netlink_packet_core::{ErrorMessage, NlaBuffer, NlasIterator, NLM_F_ACK_TLVS};
use nix::errno::Errno;
use std::fmt;

/// What was asked of the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    List,
    Add,
    Replace,
    Delete,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::List => "list routes",
            Operation::Add => "add",
            Operation::Replace => "replace",
            Operation::Delete => "delete",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("rtnetlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("rtnetlink: the kernel did not answer within {} s", super::ANSWER_TIMEOUT.as_secs())]
    Timeout,
    /// A route of another program has the key: relayd leaves it alone.
    #[error("add {route}: a route of another program is at this destination and metric; relayd leaves it alone")]
    Occupied { route: String },
    /// The process lacks CAP_NET_ADMIN (or lost it).
    #[error("{operation} {route}: not permitted (changing routes needs CAP_NET_ADMIN)")]
    NotPermitted { operation: Operation, route: String },
    #[error("{operation} {route}: {errno}{}", reason_suffix(.reason))]
    Refused {
        operation: Operation,
        route: String,
        errno: Errno,
        /// The kernel's extended-ack message, e.g. "Nexthop has invalid
        /// gateway".
        reason: Option<String>,
    },
    #[error("rtnetlink: malformed answer: {0}")]
    Malformed(String),
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

/// The error for errno `code` answering `operation` on `route`.
pub(super) fn refused(
    operation: Operation,
    route: &str,
    code: i32,
    reason: Option<String>,
) -> KernelError {
    let route = route.to_string();
    match Errno::from_raw(code) {
        Errno::EEXIST if operation == Operation::Add => KernelError::Occupied { route },
        Errno::EPERM | Errno::EACCES => KernelError::NotPermitted { operation, route },
        errno => KernelError::Refused {
            operation,
            route,
            errno,
            reason,
        },
    }
}

/// A failed `recv`: the receive timeout, or the socket's error.
pub(super) fn receive(error: std::io::Error) -> KernelError {
    match error.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => KernelError::Timeout,
        _ => KernelError::Socket(error),
    }
}

/// `NLMSGERR_ATTR_MSG`: the kernel's text in an extended ack.
const ATTR_MESSAGE: u16 = 1;
/// Length of a netlink header.
const HEADER: usize = 16;

/// The kernel's reason in an error whose header `flags` say it carries
/// extended-ack attributes. They follow the echoed request: its header
/// alone when the socket has `NETLINK_CAP_ACK` (`header_only`), else the
/// whole request.
pub(super) fn kernel_reason(error: &ErrorMessage, flags: u16, header_only: bool) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let echoed = if header_only {
        HEADER
    } else {
        let length = error.header.get(..4)?;
        let length = u32::from_ne_bytes([length[0], length[1], length[2], length[3]]) as usize;
        (length + 3) & !3
    };
    let attributes = error.header.get(echoed..)?;
    NlasIterator::new(attributes)
        .filter_map(Result::ok)
        .find(|nla: &NlaBuffer<&[u8]>| nla.kind() == ATTR_MESSAGE)
        .map(|nla| {
            let text = nla.value();
            let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
            String::from_utf8_lossy(&text[..end]).into_owned()
        })
}
