//! PDUs (RFC 2741 6): the header and its framing, what a master sends a
//! subagent (decoded from untrusted bytes, every length checked), and
//! what a subagent sends (encoded big-endian, NETWORK_BYTE_ORDER set).

use crate::oid::{Oid, OidError};
use crate::wire::{Reader, Writer};
use crate::MAX_PDU;

/// The fixed header's length.
pub const HEADER_LEN: usize = 20;

/// h.flags bits (6.1).
pub const FLAG_INSTANCE_REGISTRATION: u8 = 0x01;
pub const FLAG_NON_DEFAULT_CONTEXT: u8 = 0x08;
pub const FLAG_NETWORK_BYTE_ORDER: u8 = 0x10;

/// res.error values a subagent answers with (6.2.16, RFC 3416).
pub const NO_ERROR: u16 = 0;
pub const GEN_ERR: u16 = 5;
pub const NOT_WRITABLE: u16 = 17;
pub const PARSE_ERROR: u16 = 266;

/// Close reasons (6.2.2).
pub const CLOSE_OTHER: u8 = 1;
pub const CLOSE_PARSE_ERROR: u8 = 2;
pub const CLOSE_SHUTDOWN: u8 = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the PDU ends inside a field")]
    Truncated,
    #[error("AgentX version {0}, not 1")]
    Version(u8),
    #[error("unknown PDU type {0}")]
    UnknownType(u8),
    #[error("a payload of {0} bytes (at most {MAX_PDU}, a multiple of 4)")]
    PayloadLength(u32),
    #[error("{0} bytes follow the PDU's fields")]
    Trailing(usize),
    #[error("unknown value type {0}")]
    UnknownValue(u16),
    #[error("an IpAddress of {0} bytes")]
    IpAddress(usize),
    #[error("{0}")]
    Oid(OidError),
}

/// h.type (6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduType {
    Open = 1,
    Close = 2,
    Register = 3,
    Unregister = 4,
    Get = 5,
    GetNext = 6,
    GetBulk = 7,
    TestSet = 8,
    CommitSet = 9,
    UndoSet = 10,
    CleanupSet = 11,
    Notify = 12,
    Ping = 13,
    IndexAllocate = 14,
    IndexDeallocate = 15,
    AddAgentCaps = 16,
    RemoveAgentCaps = 17,
    Response = 18,
}

impl PduType {
    fn from_byte(b: u8) -> Result<Self, DecodeError> {
        use PduType::*;
        const ALL: [PduType; 18] = [
            Open,
            Close,
            Register,
            Unregister,
            Get,
            GetNext,
            GetBulk,
            TestSet,
            CommitSet,
            UndoSet,
            CleanupSet,
            Notify,
            Ping,
            IndexAllocate,
            IndexDeallocate,
            AddAgentCaps,
            RemoveAgentCaps,
            Response,
        ];
        ALL.into_iter()
            .find(|t| *t as u8 == b)
            .ok_or(DecodeError::UnknownType(b))
    }
}

/// The fixed header of every PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub pdu_type: PduType,
    pub flags: u8,
    pub session_id: u32,
    pub transaction_id: u32,
    pub packet_id: u32,
    /// Bytes after the header: at most [`MAX_PDU`], checked here, so a
    /// reader may allocate it.
    pub payload_length: u32,
}

impl Header {
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, DecodeError> {
        if bytes[0] != 1 {
            return Err(DecodeError::Version(bytes[0]));
        }
        let pdu_type = PduType::from_byte(bytes[1])?;
        let flags = bytes[2];
        let mut r = Reader::new(&bytes[4..], flags & FLAG_NETWORK_BYTE_ORDER != 0);
        let header = Header {
            pdu_type,
            flags,
            session_id: r.u32()?,
            transaction_id: r.u32()?,
            packet_id: r.u32()?,
            payload_length: r.u32()?,
        };
        let len = header.payload_length;
        if len as usize > MAX_PDU || len & 3 != 0 {
            return Err(DecodeError::PayloadLength(len));
        }
        Ok(header)
    }

    fn big_endian(&self) -> bool {
        self.flags & FLAG_NETWORK_BYTE_ORDER != 0
    }
}

/// One variable's value (5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Integer(i32),
    OctetString(Vec<u8>),
    Null,
    ObjectIdentifier(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Opaque(Vec<u8>),
    Counter64(u64),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

impl Value {
    fn tag(&self) -> u16 {
        match self {
            Value::Integer(_) => 2,
            Value::OctetString(_) => 4,
            Value::Null => 5,
            Value::ObjectIdentifier(_) => 6,
            Value::IpAddress(_) => 64,
            Value::Counter32(_) => 65,
            Value::Gauge32(_) => 66,
            Value::TimeTicks(_) => 67,
            Value::Opaque(_) => 68,
            Value::Counter64(_) => 70,
            Value::NoSuchObject => 128,
            Value::NoSuchInstance => 129,
            Value::EndOfMibView => 130,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarBind {
    pub name: Oid,
    pub value: Value,
}

impl VarBind {
    fn decode(r: &mut Reader<'_>) -> Result<VarBind, DecodeError> {
        let tag = r.u16()?;
        r.u16()?;
        let (name, _) = Oid::decode(r)?;
        let value = match tag {
            2 => Value::Integer(r.u32()? as i32),
            4 => Value::OctetString(r.octets()?.to_vec()),
            5 => Value::Null,
            6 => Value::ObjectIdentifier(Oid::decode(r)?.0),
            64 => {
                let bytes = r.octets()?;
                let addr =
                    <[u8; 4]>::try_from(bytes).map_err(|_| DecodeError::IpAddress(bytes.len()))?;
                Value::IpAddress(addr)
            }
            65 => Value::Counter32(r.u32()?),
            66 => Value::Gauge32(r.u32()?),
            67 => Value::TimeTicks(r.u32()?),
            68 => Value::Opaque(r.octets()?.to_vec()),
            70 => Value::Counter64(r.u64()?),
            128 => Value::NoSuchObject,
            129 => Value::NoSuchInstance,
            130 => Value::EndOfMibView,
            other => return Err(DecodeError::UnknownValue(other)),
        };
        Ok(VarBind { name, value })
    }

    fn encode(&self, w: &mut Writer) {
        w.u16(self.value.tag());
        w.u16(0);
        self.name.encode(w, false);
        match &self.value {
            Value::Integer(v) => w.u32(*v as u32),
            Value::OctetString(b) | Value::Opaque(b) => w.octets(b),
            Value::IpAddress(a) => w.octets(a),
            Value::ObjectIdentifier(oid) => oid.encode(w, false),
            Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => w.u32(*v),
            Value::Counter64(v) => w.u64(*v),
            Value::Null | Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => {}
        }
    }

    /// The bytes this varbind takes in a PDU (to keep answers under the
    /// limit).
    pub fn encoded_len(&self) -> usize {
        let mut w = Writer::default();
        self.encode(&mut w);
        w.bytes.len()
    }
}

/// A search range (5.2): from `start` (itself too when `include`) up to,
/// not including, `end` (the null OID: no bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRange {
    pub start: Oid,
    pub include: bool,
    pub end: Oid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Get,
    GetNext,
    GetBulk {
        non_repeaters: u16,
        max_repetitions: u16,
    },
}

/// A Get, GetNext or GetBulk from the master (6.2.5-7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: RequestKind,
    /// The non-default context it is for.
    pub context: Option<Vec<u8>>,
    pub ranges: Vec<SearchRange>,
}

/// A Response (6.2.16) from the master: to our Open (its header carries
/// the session id), Register or Close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsePdu {
    pub sys_uptime: u32,
    pub error: u16,
    pub index: u16,
    pub varbinds: Vec<VarBind>,
}

/// What a master sends a subagent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu {
    Response(ResponsePdu),
    Request(Request),
    Close {
        reason: u8,
    },
    /// TestSet, CommitSet, UndoSet, CleanupSet: relayd's MIB is read-only.
    Set(PduType),
    /// A PDU a master does not send a subagent (Open, Register, Notify...)
    /// or one a subagent need not answer (Ping is the subagent's to send).
    Other(PduType),
}

/// Decodes the payload that followed `header`.
pub fn decode(header: &Header, payload: &[u8]) -> Result<Pdu, DecodeError> {
    if payload.len() != header.payload_length as usize {
        return Err(DecodeError::Truncated);
    }
    let mut r = Reader::new(payload, header.big_endian());
    let pdu = match header.pdu_type {
        PduType::Response => {
            let sys_uptime = r.u32()?;
            let error = r.u16()?;
            let index = r.u16()?;
            let mut varbinds = Vec::new();
            while !r.is_empty() {
                varbinds.push(VarBind::decode(&mut r)?);
            }
            Pdu::Response(ResponsePdu {
                sys_uptime,
                error,
                index,
                varbinds,
            })
        }
        PduType::Get | PduType::GetNext | PduType::GetBulk => {
            let context = if header.flags & FLAG_NON_DEFAULT_CONTEXT != 0 {
                Some(r.octets()?.to_vec())
            } else {
                None
            };
            let kind = match header.pdu_type {
                PduType::Get => RequestKind::Get,
                PduType::GetNext => RequestKind::GetNext,
                _ => RequestKind::GetBulk {
                    non_repeaters: r.u16()?,
                    max_repetitions: r.u16()?,
                },
            };
            let mut ranges = Vec::new();
            while !r.is_empty() {
                let (start, include) = Oid::decode(&mut r)?;
                let (end, _) = Oid::decode(&mut r)?;
                ranges.push(SearchRange {
                    start,
                    include,
                    end,
                });
            }
            Pdu::Request(Request {
                kind,
                context,
                ranges,
            })
        }
        PduType::Close => {
            let reason = r.u8()?;
            r.take(3)?;
            Pdu::Close { reason }
        }
        t @ (PduType::TestSet | PduType::CommitSet | PduType::UndoSet | PduType::CleanupSet) => {
            // Their bodies are not read: every one is refused alike.
            return Ok(Pdu::Set(t));
        }
        other => return Ok(Pdu::Other(other)),
    };
    if !r.is_empty() {
        return Err(DecodeError::Trailing(payload.len()));
    }
    Ok(pdu)
}

/// Decodes one whole PDU, header and payload, from `bytes` (which must
/// hold exactly one): the fuzz target's and the tests' entry.
pub fn decode_frame(bytes: &[u8]) -> Result<(Header, Pdu), DecodeError> {
    let head: &[u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(DecodeError::Truncated)?;
    let header = Header::decode(head)?;
    let pdu = decode(&header, &bytes[HEADER_LEN..])?;
    Ok((header, pdu))
}

/// The ids a PDU we send carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ids {
    pub session_id: u32,
    pub transaction_id: u32,
    pub packet_id: u32,
}

fn frame(pdu_type: PduType, flags: u8, ids: Ids, payload: Writer) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.bytes.len());
    out.extend_from_slice(&[1, pdu_type as u8, flags | FLAG_NETWORK_BYTE_ORDER, 0]);
    out.extend_from_slice(&ids.session_id.to_be_bytes());
    out.extend_from_slice(&ids.transaction_id.to_be_bytes());
    out.extend_from_slice(&ids.packet_id.to_be_bytes());
    // Our payloads are bounded by the callers' limit, far below 4 GiB.
    out.extend_from_slice(&(payload.bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload.bytes);
    out
}

/// Open-PDU (6.2.1): the master answers with our session id.
pub fn open(packet_id: u32, timeout_secs: u8, id: &Oid, descr: &str) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(timeout_secs);
    w.bytes.extend_from_slice(&[0, 0, 0]);
    id.encode(&mut w, false);
    w.octets(descr.as_bytes());
    let ids = Ids {
        packet_id,
        ..Ids::default()
    };
    frame(PduType::Open, 0, ids, w)
}

/// Register-PDU (6.2.3) of one subtree, in `context` if not the default.
pub fn register(ids: Ids, context: Option<&[u8]>, priority: u8, subtree: &Oid) -> Vec<u8> {
    let mut w = Writer::default();
    let mut flags = 0;
    if let Some(context) = context {
        flags |= FLAG_NON_DEFAULT_CONTEXT;
        w.octets(context);
    }
    // timeout 0: the session's; range_subid 0: one subtree.
    w.u8(0);
    w.u8(priority);
    w.u8(0);
    w.u8(0);
    subtree.encode(&mut w, false);
    frame(PduType::Register, flags, ids, w)
}

/// Close-PDU (6.2.2).
pub fn close(ids: Ids, reason: u8) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(reason);
    w.bytes.extend_from_slice(&[0, 0, 0]);
    frame(PduType::Close, 0, ids, w)
}

/// Response-PDU (6.2.16) to the request whose header is `to`.
pub fn response(to: &Header, error: u16, index: u16, varbinds: &[VarBind]) -> Vec<u8> {
    let mut w = Writer::default();
    w.u32(0);
    w.u16(error);
    w.u16(index);
    for varbind in varbinds {
        varbind.encode(&mut w);
    }
    let ids = Ids {
        session_id: to.session_id,
        transaction_id: to.transaction_id,
        packet_id: to.packet_id,
    };
    frame(PduType::Response, 0, ids, w)
}

#[cfg(test)]
mod tests;
