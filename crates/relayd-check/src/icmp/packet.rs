//! ICMP / ICMPv6 echo packets: building requests and recognizing replies.
//!
//! A request carries the pinger's identifier and, in its payload, a 32-bit
//! token naming the waiting check (the 16-bit sequence number alone would
//! wrap with many hosts). 64 bytes in all, as relayd's `ICMP_BUF_SIZE`.

pub(crate) const ECHO_PACKET_LEN: usize = 64;

const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;
const HEADER_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    V4,
    V6,
}

/// The parts of an echo reply that say who asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EchoReply {
    pub identifier: u16,
    pub token: u32,
}

pub(crate) fn echo_request(family: Family, identifier: u16, token: u32) -> [u8; ECHO_PACKET_LEN] {
    let mut packet = [0u8; ECHO_PACKET_LEN];
    packet[0] = match family {
        Family::V4 => ICMP_ECHO_REQUEST,
        Family::V6 => ICMP6_ECHO_REQUEST,
    };
    packet[4..6].copy_from_slice(&identifier.to_be_bytes());
    packet[6..8].copy_from_slice(&(token as u16).to_be_bytes());
    packet[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&token.to_be_bytes());
    // The kernel fills in the ICMPv6 checksum (it covers a pseudo-header
    // only the kernel knows); ICMPv4 is ours.
    if family == Family::V4 {
        let checksum = internet_checksum(&packet);
        packet[2..4].copy_from_slice(&checksum.to_be_bytes());
    }
    packet
}

/// Parses what a raw socket of `family` received: IPv4 raw sockets deliver
/// the IP header too, IPv6 ones do not. `None` for anything but an echo
/// reply long enough to carry a token.
pub(crate) fn parse_echo_reply(family: Family, received: &[u8]) -> Option<EchoReply> {
    let (icmp, reply_type) = match family {
        Family::V4 => {
            let header_len = usize::from(received.first()? & 0x0f) * 4;
            (received.get(header_len..)?, ICMP_ECHO_REPLY)
        }
        Family::V6 => (received, ICMP6_ECHO_REPLY),
    };
    if icmp.len() < HEADER_LEN + 4 || icmp[0] != reply_type || icmp[1] != 0 {
        return None;
    }
    Some(EchoReply {
        identifier: u16::from_be_bytes([icmp[4], icmp[5]]),
        token: u32::from_be_bytes([icmp[8], icmp[9], icmp[10], icmp[11]]),
    })
}

/// RFC 1071 checksum.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_checksum_verifies() {
        let packet = echo_request(Family::V4, 0x1234, 0xdead_beef);
        assert_eq!(internet_checksum(&packet), 0, "a valid packet sums to zero");
        assert_eq!(&packet[4..8], &[0x12, 0x34, 0xbe, 0xef]);
    }

    #[test]
    fn parses_an_ipv4_reply_after_its_ip_header() {
        let mut reply = echo_request(Family::V4, 7, 99).to_vec();
        reply[0] = ICMP_ECHO_REPLY;
        let mut datagram = vec![0x45u8; 1];
        datagram.resize(20, 0);
        datagram.extend_from_slice(&reply);
        assert_eq!(
            parse_echo_reply(Family::V4, &datagram),
            Some(EchoReply {
                identifier: 7,
                token: 99
            })
        );
        // Our own request, seen on loopback, is not a reply.
        datagram[20] = ICMP_ECHO_REQUEST;
        assert_eq!(parse_echo_reply(Family::V4, &datagram), None);
        assert_eq!(parse_echo_reply(Family::V4, &datagram[..25]), None);
    }

    #[test]
    fn parses_an_ipv6_reply() {
        let mut reply = echo_request(Family::V6, 7, 1 << 20);
        reply[0] = ICMP6_ECHO_REPLY;
        assert_eq!(
            parse_echo_reply(Family::V6, &reply),
            Some(EchoReply {
                identifier: 7,
                token: 1 << 20
            })
        );
    }
}
