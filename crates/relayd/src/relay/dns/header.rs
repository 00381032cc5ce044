//! The fixed DNS header of a datagram, read with hickory-proto: whether it
//! is a query or an answer and its ID. Only the header is looked at, as
//! relayd does; the rest of the message is the backend's to judge. The ID
//! is the header's first two bytes, so it is replaced in place.

use hickory_proto::op::{Header, MessageType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// What a datagram's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspected {
    pub id: u16,
    pub kind: MessageKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Query,
    Answer,
}

/// A datagram whose first twelve bytes are not a DNS header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a DNS message: {len} bytes, a header needs 12")]
pub struct Malformed {
    pub len: usize,
}

/// Reads the header of `payload`.
pub fn inspect(payload: &[u8]) -> Result<Inspected, Malformed> {
    let header = Header::read(&mut BinDecoder::new(payload))
        .map_err(|_| Malformed { len: payload.len() })?;
    let kind = match header.message_type {
        MessageType::Query => MessageKind::Query,
        MessageType::Response => MessageKind::Answer,
    };
    Ok(Inspected {
        id: header.id,
        kind,
    })
}

/// Writes `id` into the header of `message`, which [`inspect`] accepted.
pub fn set_id(message: &mut [u8], id: u16) {
    if let Some(field) = message.first_chunk_mut::<2>() {
        *field = id.to_be_bytes();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `a.test. A` with ID 0x1234, recursion desired.
    pub fn query() -> Vec<u8> {
        let mut message = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        message.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
        message
    }

    #[test]
    fn queries_and_answers_are_told_apart_by_their_header() {
        let mut message = query();
        assert_eq!(
            inspect(&message),
            Ok(Inspected {
                id: 0x1234,
                kind: MessageKind::Query
            })
        );
        message[2] |= 0x80;
        assert_eq!(inspect(&message).map(|h| h.kind), Ok(MessageKind::Answer));
    }

    #[test]
    fn less_than_a_header_is_malformed() {
        for len in [0, 1, 2, 11] {
            assert_eq!(inspect(&query()[..len]), Err(Malformed { len }));
        }
        assert!(
            inspect(&query()[..12]).is_ok(),
            "a bare header is a message"
        );
    }

    #[test]
    fn the_id_is_replaced_in_place() {
        let mut message = query();
        set_id(&mut message, 0xbeef);
        assert_eq!(inspect(&message).map(|h| h.id), Ok(0xbeef));
        assert_eq!(&message[2..], &query()[2..]);
    }
}
