//! The kernel's connection tracking, asked for one flow at a time: where a
//! redirected datagram was going before a DNAT rule sent it to a relay
//! (relayd's `natlook`, which asks pf's state table with DIOCNATLOOK).
//!
//! Talks to: ctnetlink (NETLINK_NETFILTER, `IPCTNL_MSG_CT_GET`) in the
//! network namespace the socket was opened in, over a blocking socket
//! opened before the sandbox (as the routes' rtnetlink socket). May: read
//! one conntrack entry per request, never change one. Needs: CAP_NET_ADMIN
//! (nfnetlink checks it on every message). The kernel answers a GET while
//! it handles it, so a lookup is a few microseconds on the pfe's thread;
//! the receive timeout only guards against a kernel that does not answer.
//!
//! A flow redirected to the relay is tracked with the original tuple
//! `client -> original destination` and the reply tuple `relay listen ->
//! client`: the relay knows the second, so the entry is asked for by its
//! reply tuple and the original tuple's destination is the answer. A
//! datagram nothing redirected has its entry too (conntrack tracks every
//! flow while a NAT table is loaded): its original destination is the
//! listen address itself, which the relay takes as "not redirected".

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoTuple, Protocol, Tuple,
};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_sys::protocols::NETLINK_NETFILTER;
use netlink_sys::{Socket, SocketAddr as NetlinkAddr};
use nix::errno::Errno;
use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
use nix::sys::time::TimeVal;
use relayd_config::IpProto;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How long a lookup waits for the kernel's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);
/// Larger than any one conntrack entry the kernel sends.
const RECEIVE_BUFFER: usize = 16 * 1024;

/// Why a lookup could not be made (no entry is not an error).
#[derive(Debug, thiserror::Error)]
pub enum ConntrackError {
    #[error("conntrack netlink socket: {0}")]
    Socket(#[source] io::Error),
    #[error("conntrack: not permitted (reading conntrack needs CAP_NET_ADMIN)")]
    NotPermitted,
    #[error("conntrack: the kernel did not answer within {} s", ANSWER_TIMEOUT.as_secs())]
    Timeout,
    #[error("conntrack: {0}")]
    Refused(Errno),
    #[error("conntrack: malformed answer: {0}")]
    Malformed(String),
    #[error("conntrack: client {client} and listen address {listen} are of different families")]
    MixedFamilies {
        client: SocketAddr,
        listen: SocketAddr,
    },
}

/// A ctnetlink socket for lookups.
pub struct Conntrack {
    socket: Socket,
    sequence: u32,
    buffer: Vec<u8>,
}

impl Conntrack {
    /// Opens a socket in the caller's network namespace.
    pub fn open() -> Result<Conntrack, ConntrackError> {
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(ConntrackError::Socket)?;
        socket.bind_auto().map_err(ConntrackError::Socket)?;
        socket
            .connect(&NetlinkAddr::new(0, 0))
            .map_err(ConntrackError::Socket)?;
        let timeout = TimeVal::new(ANSWER_TIMEOUT.as_secs() as _, 0);
        setsockopt(&socket, ReceiveTimeout, &timeout)
            .map_err(|e| ConntrackError::Socket(e.into()))?;
        Ok(Conntrack {
            socket,
            sequence: 0,
            buffer: Vec::with_capacity(RECEIVE_BUFFER),
        })
    }

    /// The original destination of the flow from `client` that reached
    /// `listen`, or `None` when conntrack has no such flow.
    pub fn original_destination(
        &mut self,
        proto: IpProto,
        client: SocketAddr,
        listen: SocketAddr,
    ) -> Result<Option<SocketAddr>, ConntrackError> {
        let request = reply_tuple_query(proto, client, listen)?;
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(request));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.socket
            .send(&bytes, 0)
            .map_err(|e| received_error(e, ConntrackError::Socket))?;
        loop {
            self.buffer.clear();
            let size = self
                .socket
                .recv(&mut self.buffer, 0)
                .map_err(|e| received_error(e, ConntrackError::Socket))?;
            let mut rest = &self.buffer[..size];
            while !rest.is_empty() {
                let message = NetlinkMessage::<NetfilterMessage>::deserialize(rest)
                    .map_err(|e| ConntrackError::Malformed(e.to_string()))?;
                let length = (message.header.length as usize + 3) & !3;
                rest = rest.get(length.max(1)..).unwrap_or_default();
                if message.header.sequence_number != self.sequence {
                    continue; // the late answer to an earlier request
                }
                return match message.payload {
                    NetlinkPayload::Error(error) => match error.code {
                        None => Ok(None),
                        Some(code) => match Errno::from_raw(-code.get()) {
                            Errno::ENOENT => Ok(None),
                            Errno::EPERM => Err(ConntrackError::NotPermitted),
                            errno => Err(ConntrackError::Refused(errno)),
                        },
                    },
                    NetlinkPayload::InnerMessage(message) => original_tuple_destination(message),
                    other => Err(ConntrackError::Malformed(format!(
                        "unexpected message {other:?}"
                    ))),
                };
            }
        }
    }
}

/// A receive timeout is the kernel not answering; anything else the socket's.
fn received_error(e: io::Error, other: fn(io::Error) -> ConntrackError) -> ConntrackError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ConntrackError::Timeout,
        _ if e.raw_os_error() == Some(libc::EPERM) => ConntrackError::NotPermitted,
        _ => other(e),
    }
}

/// `IPCTNL_MSG_CT_GET` for the entry whose reply tuple is `listen ->
/// client`.
fn reply_tuple_query(
    proto: IpProto,
    client: SocketAddr,
    listen: SocketAddr,
) -> Result<NetfilterMessage, ConntrackError> {
    let (client_ip, listen_ip) = (client.ip().to_canonical(), listen.ip().to_canonical());
    let family = match (client_ip, listen_ip) {
        (IpAddr::V4(_), IpAddr::V4(_)) => NetfilterProtoFamily::IPv4,
        (IpAddr::V6(_), IpAddr::V6(_)) => NetfilterProtoFamily::IPv6,
        _ => return Err(ConntrackError::MixedFamilies { client, listen }),
    };
    let protocol = match proto {
        IpProto::Tcp => Protocol::Tcp,
        IpProto::Udp => Protocol::Udp,
    };
    let reply = vec![
        Tuple::Ip(vec![
            IPTuple::SourceAddress(listen_ip),
            IPTuple::DestinationAddress(client_ip),
        ]),
        Tuple::Proto(vec![
            ProtoTuple::Protocol(protocol),
            ProtoTuple::SourcePort(listen.port()),
            ProtoTuple::DestinationPort(client.port()),
        ]),
    ];
    Ok(NetfilterMessage::new(
        NetfilterHeader::new(family, 0, 0),
        ConntrackMessage::Get(vec![ConntrackAttribute::CtaTupleReply(reply)]),
    ))
}

/// The destination address and port of the entry's original tuple.
fn original_tuple_destination(
    message: NetfilterMessage,
) -> Result<Option<SocketAddr>, ConntrackError> {
    let malformed = |what: &str| ConntrackError::Malformed(what.to_string());
    let NetfilterMessageInner::Conntrack(ConntrackMessage::New(attributes)) = message.inner else {
        return Err(malformed("not a conntrack entry"));
    };
    let original = attributes
        .into_iter()
        .find_map(|attribute| match attribute {
            ConntrackAttribute::CtaTupleOrig(tuple) => Some(tuple),
            _ => None,
        })
        .ok_or_else(|| malformed("no original tuple"))?;
    let mut address = None;
    let mut port = None;
    for part in original {
        match part {
            Tuple::Ip(ips) => {
                address = ips.into_iter().find_map(|ip| match ip {
                    IPTuple::DestinationAddress(ip) => Some(ip),
                    _ => None,
                })
            }
            Tuple::Proto(protos) => {
                port = protos.into_iter().find_map(|p| match p {
                    ProtoTuple::DestinationPort(port) => Some(port),
                    _ => None,
                })
            }
            _ => {}
        }
    }
    match (address, port) {
        (Some(address), Some(port)) => Ok(Some(SocketAddr::new(address, port))),
        _ => Err(malformed("the original tuple has no destination")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_query_names_the_reply_tuple_of_the_flow() {
        let query =
            reply_tuple_query(IpProto::Udp, addr("10.0.0.9:40000"), addr("10.0.0.1:5353")).unwrap();
        assert_eq!(query.header.family, NetfilterProtoFamily::IPv4);
        let NetfilterMessageInner::Conntrack(ConntrackMessage::Get(attributes)) = &query.inner
        else {
            panic!("{query:?}");
        };
        let [ConntrackAttribute::CtaTupleReply(tuple)] = &attributes[..] else {
            panic!("{attributes:?}");
        };
        assert_eq!(
            tuple[0],
            Tuple::Ip(vec![
                IPTuple::SourceAddress("10.0.0.1".parse().unwrap()),
                IPTuple::DestinationAddress("10.0.0.9".parse().unwrap()),
            ])
        );
        assert_eq!(
            tuple[1],
            Tuple::Proto(vec![
                ProtoTuple::Protocol(Protocol::Udp),
                ProtoTuple::SourcePort(5353),
                ProtoTuple::DestinationPort(40000),
            ])
        );
        let mut bytes = vec![0; query.buffer_len()];
        query.emit(&mut bytes);
        assert_eq!(bytes[0], libc::AF_INET as u8, "nfgenmsg family");
    }

    #[test]
    fn mixed_families_are_refused_and_mapped_addresses_are_ipv4() {
        let mixed = reply_tuple_query(IpProto::Udp, addr("[2001:db8::9]:1"), addr("10.0.0.1:53"));
        assert!(matches!(mixed, Err(ConntrackError::MixedFamilies { .. })));
        let mapped = reply_tuple_query(
            IpProto::Udp,
            addr("[::ffff:10.0.0.9]:1"),
            addr("10.0.0.1:53"),
        )
        .unwrap();
        assert_eq!(mapped.header.family, NetfilterProtoFamily::IPv4);
        let v6 = reply_tuple_query(
            IpProto::Tcp,
            addr("[2001:db8::9]:1"),
            addr("[2001:db8::1]:53"),
        )
        .unwrap();
        assert_eq!(v6.header.family, NetfilterProtoFamily::IPv6);
    }

    #[test]
    fn the_answer_is_the_original_tuples_destination() {
        let entry = |original: Vec<Tuple>| {
            NetfilterMessage::new(
                NetfilterHeader::new(NetfilterProtoFamily::IPv4, 0, 0),
                ConntrackMessage::New(vec![
                    ConntrackAttribute::CtaTupleOrig(original),
                    ConntrackAttribute::CtaTupleReply(vec![]),
                    ConntrackAttribute::CtaMark(0),
                ]),
            )
        };
        let found = original_tuple_destination(entry(vec![
            Tuple::Ip(vec![
                IPTuple::SourceAddress("10.0.0.9".parse().unwrap()),
                IPTuple::DestinationAddress("192.0.2.53".parse().unwrap()),
            ]),
            Tuple::Proto(vec![
                ProtoTuple::Protocol(Protocol::Udp),
                ProtoTuple::SourcePort(40000),
                ProtoTuple::DestinationPort(53),
            ]),
        ]));
        assert_eq!(found.unwrap(), Some(addr("192.0.2.53:53")));
        let no_port =
            original_tuple_destination(entry(vec![Tuple::Ip(vec![IPTuple::DestinationAddress(
                "192.0.2.53".parse().unwrap(),
            )])]));
        assert!(matches!(no_port, Err(ConntrackError::Malformed(_))));
    }
}
