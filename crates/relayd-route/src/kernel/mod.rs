//! The kernel side: a blocking rtnetlink socket that lists, adds, replaces
//! and deletes routes of relayd's protocol, and nothing else.
//!
//! Talks to: the kernel's routing tables of the network namespace the
//! socket was opened in. May: change routes whose protocol is
//! [`RTPROT_RELAYD`](crate::RTPROT_RELAYD). Needs: CAP_NET_ADMIN to
//! change routes (the kernel checks it both on the opener of the socket
//! and on the sender of each request); listing needs no privilege, and no
//! file is opened, so the socket works in a chroot. Each call sends one
//! request and waits for the kernel's answer, which rtnetlink gives while
//! handling the request: microseconds, never a wait on the network (the
//! receive timeout only guards against a kernel that does not answer).

mod error;
mod message;

pub use error::{KernelError, Operation};

use crate::route::{Route, RouteKey};
use message::{delete_route, dump_request, new_route, parse_route};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};
use nix::errno::Errno;
use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
use nix::sys::time::TimeVal;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a request waits for the kernel's answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// A dump the kernel marks interrupted (the tables changed while it was
/// read) is read again this many times, then taken as it is.
const DUMP_ATTEMPTS: usize = 3;

/// Offset of `rtm_protocol` in a route message (netlink header, then
/// family, dst_len, src_len, tos, table).
const PROTOCOL_OFFSET: usize = HEADER_LEN + 5;

/// `recv` flags that peek at the next datagram and return its full size.
const PEEK_FULL_SIZE: i32 = nix::libc::MSG_PEEK | nix::libc::MSG_TRUNC;

/// An rtnetlink socket for relayd's routes.
pub struct RouteSocket {
    socket: Socket,
    sequence: u32,
    /// Errors echo only the request's header (`NETLINK_CAP_ACK`).
    cap_ack: bool,
    buffer: Vec<u8>,
}

/// What the kernel answered to one request.
enum Answer {
    /// The request was carried out (`NLMSG_ERROR` with code 0).
    Done,
    /// The route messages of a dump, and whether it was interrupted.
    Dump {
        routes: Vec<RouteMessage>,
        interrupted: bool,
    },
}

impl RouteSocket {
    /// Opens a socket in the caller's network namespace (the calling
    /// thread's, after `setns`).
    pub fn open() -> Result<RouteSocket, KernelError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(KernelError::Socket)?;
        socket.bind_auto().map_err(KernelError::Socket)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(KernelError::Socket)?;
        // Kernel-side filtering of dumps by protocol and table (Linux 4.20);
        // without it the dump is filtered here, so a refusal is fine.
        let _ = socket.set_netlink_get_strict_chk(true);
        // Errors come with the kernel's reason (extended ack, Linux 4.12),
        // without a copy of the request.
        let _ = socket.set_ext_ack(true);
        let cap_ack = socket.set_cap_ack(true).is_ok();
        let timeout = TimeVal::new(ANSWER_TIMEOUT.as_secs() as _, 0);
        setsockopt(&socket, ReceiveTimeout, &timeout).map_err(|e| KernelError::Socket(e.into()))?;
        Ok(RouteSocket {
            socket,
            sequence: 0,
            cap_ack,
            buffer: Vec::with_capacity(64 * 1024),
        })
    }

    /// relayd's routes, IPv4 and IPv6, in `table` or in every table.
    /// Nexthops the kernel lists as separate routes (IPv6 on old kernels)
    /// are joined into one multipath route.
    pub fn list(&mut self, table: Option<u32>) -> Result<Vec<Route>, KernelError> {
        let mut routes: BTreeMap<RouteKey, Route> = BTreeMap::new();
        for ipv4 in [true, false] {
            let request = dump_request(ipv4, table);
            let mut messages = Vec::new();
            for _ in 0..DUMP_ATTEMPTS {
                match self.request(&request, NLM_F_DUMP, Operation::List, "") {
                    Ok(Answer::Dump {
                        routes,
                        interrupted,
                    }) => {
                        messages = routes;
                        if !interrupted {
                            break;
                        }
                    }
                    Ok(Answer::Done) => break,
                    // A filtered dump of a table this family does not
                    // have (yet): no routes.
                    Err(KernelError::Refused {
                        errno: Errno::ENOENT,
                        ..
                    }) if table.is_some() => break,
                    Err(e) => return Err(e),
                }
            }
            for route in messages.iter().filter_map(|m| parse_route(m, table)) {
                match routes.get_mut(&route.key) {
                    Some(known) => known.gateways.extend(route.gateways),
                    None => {
                        routes.insert(route.key, route);
                    }
                }
            }
        }
        Ok(routes.into_values().collect())
    }

    /// Adds `route` where no route has its key: a route of another
    /// program at that key is [`KernelError::Occupied`], never replaced.
    pub fn add(&mut self, route: &Route) -> Result<(), KernelError> {
        let flags = NLM_F_CREATE | NLM_F_EXCL;
        self.change(&new_route(route), flags, Operation::Add, route)
    }

    /// Replaces relayd's route at `route`'s key (creating it if it went
    /// away). Only for keys relayd holds: the kernel's replace does not
    /// look at the protocol.
    pub fn replace(&mut self, route: &Route) -> Result<(), KernelError> {
        let flags = NLM_F_CREATE | NLM_F_REPLACE;
        self.change(&new_route(route), flags, Operation::Replace, route)
    }

    /// Deletes relayd's route at `route`'s key with all its nexthops. A
    /// route of another protocol at that key is left alone; no route there
    /// is no error (it is gone, as wanted).
    pub fn delete(&mut self, route: &Route) -> Result<(), KernelError> {
        match self.change(&delete_route(&route.key), 0, Operation::Delete, route) {
            Err(KernelError::Refused {
                errno: Errno::ESRCH,
                ..
            }) => Ok(()),
            other => other,
        }
    }

    fn change(
        &mut self,
        message: &RouteMessage,
        flags: u16,
        operation: Operation,
        route: &Route,
    ) -> Result<(), KernelError> {
        self.request(message, flags, operation, &route.to_string())
            .map(|_| ())
    }

    /// Sends `message` (a new route, a deletion or a dump request) and
    /// reads the answer to it.
    fn request(
        &mut self,
        message: &RouteMessage,
        flags: u16,
        operation: Operation,
        what: &str,
    ) -> Result<Answer, KernelError> {
        self.sequence = self.sequence.wrapping_add(1);
        let payload = match operation {
            Operation::List => RouteNetlinkMessage::GetRoute(message.clone()),
            Operation::Delete => RouteNetlinkMessage::DelRoute(message.clone()),
            Operation::Add | Operation::Replace => RouteNetlinkMessage::NewRoute(message.clone()),
        };
        let mut header = NetlinkHeader::default();
        // A dump ends with NLMSG_DONE; a change is answered by an ack.
        let ack = if operation == Operation::List {
            0
        } else {
            NLM_F_ACK
        };
        header.flags = NLM_F_REQUEST | ack | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(payload));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.socket.send(&bytes, 0).map_err(KernelError::Socket)?;
        self.read_answer(operation, what)
    }

    fn read_answer(&mut self, operation: Operation, what: &str) -> Result<Answer, KernelError> {
        let mut routes = Vec::new();
        let mut interrupted = false;
        loop {
            self.receive()?;
            for raw in split_datagram(&self.buffer)? {
                if raw.sequence != self.sequence {
                    continue; // the late answer to an earlier request
                }
                let message = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(raw.bytes) {
                    Ok(message) => message,
                    // A route of another protocol that this crate cannot
                    // read (some encapsulation) is none of relayd's business.
                    Err(_) if raw.is_foreign_route() => continue,
                    Err(e) => return Err(KernelError::Malformed(e.to_string())),
                };
                interrupted |= message.header.flags & NLM_F_DUMP_INTR != 0;
                match message.payload {
                    NetlinkPayload::Done(done) if done.code < 0 => {
                        return Err(error::refused(operation, what, -done.code, None))
                    }
                    NetlinkPayload::Done(_) => {
                        return Ok(Answer::Dump {
                            routes,
                            interrupted,
                        })
                    }
                    NetlinkPayload::Error(error) => {
                        return match error.code {
                            None => Ok(Answer::Done),
                            Some(code) => Err(error::refused(
                                operation,
                                what,
                                -code.get(),
                                error::kernel_reason(&error, message.header.flags, self.cap_ack),
                            )),
                        }
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(route)) => {
                        routes.push(route)
                    }
                    _ => {}
                }
            }
        }
    }

    /// Reads one datagram, whole, into the buffer.
    fn receive(&mut self) -> Result<(), KernelError> {
        self.buffer.clear();
        let size = self
            .socket
            .recv(&mut self.buffer, PEEK_FULL_SIZE)
            .map_err(error::receive)?;
        self.buffer.clear();
        self.buffer.reserve(size);
        self.socket
            .recv(&mut self.buffer, 0)
            .map_err(error::receive)?;
        Ok(())
    }
}

/// Length of a netlink message header.
const HEADER_LEN: usize = 16;
/// `RTM_NEWROUTE`, the type of the routes of a dump.
const RTM_NEWROUTE: u16 = 24;

/// One netlink message of a datagram, before it is parsed.
struct RawMessage<'a> {
    kind: u16,
    sequence: u32,
    bytes: &'a [u8],
}

impl RawMessage<'_> {
    /// A route whose protocol is not relayd's.
    fn is_foreign_route(&self) -> bool {
        self.kind == RTM_NEWROUTE
            && self
                .bytes
                .get(PROTOCOL_OFFSET)
                .is_some_and(|&protocol| protocol != crate::RTPROT_RELAYD)
    }
}

/// The messages of a datagram, by their header's length field.
fn split_datagram(datagram: &[u8]) -> Result<Vec<RawMessage<'_>>, KernelError> {
    let mut messages = Vec::new();
    let mut rest = datagram;
    while let Some(header) = rest.get(..HEADER_LEN) {
        let field = |at: usize| [header[at], header[at + 1], header[at + 2], header[at + 3]];
        let length = u32::from_ne_bytes(field(0)) as usize;
        if length < HEADER_LEN || length > rest.len() {
            return Err(KernelError::Malformed(format!(
                "message length {length} with {} bytes left in the datagram",
                rest.len()
            )));
        }
        messages.push(RawMessage {
            kind: u16::from_ne_bytes([header[4], header[5]]),
            sequence: u32::from_ne_bytes(field(8)),
            bytes: &rest[..length],
        });
        rest = rest.get((length + 3) & !3..).unwrap_or_default();
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A netlink message of `length` bytes (header included), zero-padded
    /// to 4 bytes as in a datagram.
    fn message(kind: u16, sequence: u32, length: usize) -> Vec<u8> {
        let mut bytes = vec![0; (length + 3) & !3];
        bytes[..4].copy_from_slice(&(length as u32).to_ne_bytes());
        bytes[4..6].copy_from_slice(&kind.to_ne_bytes());
        bytes[8..12].copy_from_slice(&sequence.to_ne_bytes());
        bytes
    }

    #[test]
    fn a_datagram_splits_into_its_padded_messages() {
        let mut datagram = message(RTM_NEWROUTE, 7, 30);
        datagram.extend(message(3, 7, 20));
        let messages = split_datagram(&datagram).expect("well formed");
        let seen: Vec<(u16, u32, usize)> = messages
            .iter()
            .map(|m| (m.kind, m.sequence, m.bytes.len()))
            .collect();
        assert_eq!(seen, [(RTM_NEWROUTE, 7, 30), (3, 7, 20)]);
    }

    #[test]
    fn a_length_past_the_datagram_is_malformed_not_a_panic() {
        let mut datagram = message(RTM_NEWROUTE, 1, 40);
        datagram.truncate(24);
        assert!(matches!(
            split_datagram(&datagram),
            Err(KernelError::Malformed(_))
        ));
        let mut short = message(RTM_NEWROUTE, 1, 16);
        short[..4].copy_from_slice(&8u32.to_ne_bytes());
        assert!(matches!(
            split_datagram(&short),
            Err(KernelError::Malformed(_))
        ));
    }

    #[test]
    fn only_routes_of_another_protocol_are_foreign() {
        let mut route = message(RTM_NEWROUTE, 1, 28);
        route[PROTOCOL_OFFSET] = 4; // static
        let mut ours = route.clone();
        ours[PROTOCOL_OFFSET] = crate::RTPROT_RELAYD;
        let mut error = route.clone();
        error[4..6].copy_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
        let foreign = |bytes: &[u8]| split_datagram(bytes).expect("split")[0].is_foreign_route();
        assert!(foreign(&route));
        assert!(!foreign(&ours));
        assert!(!foreign(&error));
    }
}
