//! imsg frames: the fixed header, payload encoding with bincode, and a
//! decoder that turns a byte stream (plus the descriptors received beside it)
//! back into frames.
//!
//! Layout of a frame, all integers little-endian:
//!
//! ```text
//! offset 0   type     u32   variant index of the message; inside an
//!                           envelope both levels (see `kind`)
//! offset 4   len      u32   length of the whole frame, header included
//! offset 8   flags    u16   FLAG_FD: a descriptor travels with this frame
//! offset 10  peer_id  u32   free for the sender (relayd: process instance)
//! offset 14  pid      u32   sender's process id
//! offset 18  payload        bincode 2, standard config
//! ```
//!
//! The decoder is pure (no I/O) so partial reads, several frames per read and
//! every malformed input can be tested without sockets.

use crate::error::ImsgError;
use crate::kind::message_kind;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::VecDeque;
use std::os::fd::OwnedFd;

/// Size of the fixed header in bytes.
pub const HEADER_LEN: usize = 18;

/// Largest frame (header + payload) either side accepts. Configuration with
/// many hosts goes table by table, so 16 MiB leaves ample room.
pub const MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// Largest payload; the bincode decoder refuses to allocate beyond it.
pub const MAX_PAYLOAD_SIZE: usize = MAX_FRAME_SIZE - HEADER_LEN;

/// Header flag: one descriptor was sent with the first byte of this frame.
pub const FLAG_FD: u16 = 0x0001;

const KNOWN_FLAGS: u16 = FLAG_FD;

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_PAYLOAD_SIZE>()
}

/// The fixed part of every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Message type: variant index of the message enum.
    pub kind: u32,
    /// Length of the whole frame, header included.
    pub len: u32,
    pub flags: u16,
    pub peer_id: u32,
    pub pid: u32,
}

impl Header {
    pub fn has_fd(&self) -> bool {
        self.flags & FLAG_FD != 0
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.kind.to_le_bytes());
        out[4..8].copy_from_slice(&self.len.to_le_bytes());
        out[8..10].copy_from_slice(&self.flags.to_le_bytes());
        out[10..14].copy_from_slice(&self.peer_id.to_le_bytes());
        out[14..18].copy_from_slice(&self.pid.to_le_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8; HEADER_LEN]) -> Header {
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        Header {
            kind: u32_at(0),
            len: u32_at(4),
            flags: u16::from_le_bytes([bytes[8], bytes[9]]),
            peer_id: u32_at(10),
            pid: u32_at(14),
        }
    }
}

/// Encodes `msg` into a complete frame (header + payload).
pub fn encode_frame<M: Serialize + ?Sized>(
    msg: &M,
    peer_id: u32,
    pid: u32,
    has_fd: bool,
) -> Result<Vec<u8>, ImsgError> {
    let payload = bincode::serde::encode_to_vec(msg, bincode_config())
        .map_err(|e| ImsgError::Encode(e.to_string()))?;
    let len = HEADER_LEN + payload.len();
    if len > MAX_FRAME_SIZE {
        return Err(ImsgError::FrameTooLarge {
            len,
            max: MAX_FRAME_SIZE,
        });
    }
    let header = Header {
        kind: message_kind(msg).index,
        len: len as u32,
        flags: if has_fd { FLAG_FD } else { 0 },
        peer_id,
        pid,
    };
    let mut frame = Vec::with_capacity(len);
    frame.extend_from_slice(&header.to_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// Decodes the payload of a frame and checks that the message it holds has
/// the type the header announced.
pub fn decode_payload<M: DeserializeOwned + Serialize>(
    header: &Header,
    payload: &[u8],
) -> Result<M, ImsgError> {
    let decode_error = |reason: String| ImsgError::Decode {
        kind: header.kind,
        len: payload.len(),
        reason,
    };
    let (msg, used): (M, usize) = bincode::serde::decode_from_slice(payload, bincode_config())
        .map_err(|e| decode_error(e.to_string()))?;
    if used != payload.len() {
        return Err(decode_error(format!(
            "{} trailing bytes after the message",
            payload.len() - used
        )));
    }
    let kind = message_kind(&msg);
    if kind.index != header.kind {
        return Err(ImsgError::KindMismatch {
            header: header.kind,
            payload: kind.index,
            name: kind.name,
        });
    }
    Ok(msg)
}

/// A frame cut from the stream, payload not yet decoded.
#[derive(Debug)]
pub struct RawFrame {
    pub header: Header,
    pub payload: Vec<u8>,
    pub fd: Option<OwnedFd>,
}

/// What a decoder keeps of its buffer once every frame in it was handed
/// out; a larger buffer (a big frame passed) is freed.
const KEPT_CAPACITY: usize = 64 * 1024;

/// Reassembles frames from stream bytes and received descriptors.
///
/// Descriptors are queued in arrival order; a frame whose header has
/// [`FLAG_FD`] takes the oldest. The kernel delivers a descriptor no later
/// than the first byte of the frame it was sent with, so the queue order is
/// the frame order. Descriptors nobody claims are closed when the decoder
/// is dropped.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes before `start` belong to frames already handed out.
    start: usize,
    fds: VecDeque<OwnedFd>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn push_bytes(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Queues a descriptor received with the stream bytes.
    pub fn push_fd(&mut self, fd: OwnedFd) {
        self.fds.push_back(fd);
    }

    /// Bytes received but not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Descriptors received but not yet claimed by a frame.
    pub fn queued_fds(&self) -> usize {
        self.fds.len()
    }

    /// The next complete frame, `None` if more bytes are needed.
    ///
    /// A header is validated as soon as it is complete, so an absurd length
    /// is refused before its payload is waited for.
    pub fn next_frame(&mut self) -> Result<Option<RawFrame>, ImsgError> {
        let pending = &self.buf[self.start..];
        let Some(header_bytes) = pending.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let header = Header::from_bytes(header_bytes);
        let len = header.len as usize;
        if len < HEADER_LEN {
            return Err(ImsgError::FrameTooShort {
                len: header.len,
                header: HEADER_LEN,
            });
        }
        if len > MAX_FRAME_SIZE {
            return Err(ImsgError::FrameTooLarge {
                len,
                max: MAX_FRAME_SIZE,
            });
        }
        if header.flags & !KNOWN_FLAGS != 0 {
            return Err(ImsgError::UnknownFlags {
                flags: header.flags,
            });
        }
        if pending.len() < len {
            return Ok(None);
        }
        let fd = if header.has_fd() {
            Some(
                self.fds
                    .pop_front()
                    .ok_or(ImsgError::MissingFd { kind: header.kind })?,
            )
        } else {
            None
        };
        let payload = pending[HEADER_LEN..len].to_vec();
        self.start += len;
        if self.start == self.buf.len() && self.buf.capacity() > KEPT_CAPACITY {
            // A large frame is gone: give its room back.
            self.buf = Vec::new();
            self.start = 0;
        }
        Ok(Some(RawFrame {
            header,
            payload,
            fd,
        }))
    }

    /// Checks the stream may end here: at end-of-file, a partial frame is an
    /// error rather than silently dropped.
    pub fn check_eof(&self) -> Result<(), ImsgError> {
        match self.buffered() {
            0 => Ok(()),
            buffered => Err(ImsgError::Truncated { buffered }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::os::fd::AsRawFd;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Msg {
        Ping,
        Text(String),
        Blob(Vec<u8>),
    }

    fn frame(msg: &Msg) -> Vec<u8> {
        encode_frame(msg, 7, 1234, false).unwrap()
    }

    fn decode_all(decoder: &mut FrameDecoder) -> Vec<(Header, Msg)> {
        let mut out = Vec::new();
        while let Some(raw) = decoder.next_frame().unwrap() {
            out.push((
                raw.header,
                decode_payload(&raw.header, &raw.payload).unwrap(),
            ));
        }
        out
    }

    #[test]
    fn header_round_trips_and_carries_the_variant_index() {
        let bytes = frame(&Msg::Text("hello".into()));
        let header = Header::from_bytes(bytes.first_chunk().unwrap());
        assert_eq!(header.kind, 1);
        assert_eq!(header.len as usize, bytes.len());
        assert_eq!((header.peer_id, header.pid, header.flags), (7, 1234, 0));
        assert_eq!(Header::from_bytes(&header.to_bytes()), header);
    }

    #[test]
    fn byte_by_byte_input_yields_each_frame_once_complete() {
        let msgs = [Msg::Ping, Msg::Text("abc".into()), Msg::Blob(vec![9; 300])];
        let stream: Vec<u8> = msgs.iter().flat_map(frame).collect();
        let mut decoder = FrameDecoder::new();
        let mut got = Vec::new();
        for byte in &stream {
            decoder.push_bytes(std::slice::from_ref(byte));
            got.extend(decode_all(&mut decoder).into_iter().map(|(_, m)| m));
        }
        assert_eq!(got, msgs);
        assert_eq!(decoder.buffered(), 0);
        decoder.check_eof().unwrap();
    }

    #[test]
    fn several_frames_in_one_read() {
        let msgs: Vec<Msg> = (0..50).map(|i| Msg::Text(format!("n{i}"))).collect();
        let stream: Vec<u8> = msgs.iter().flat_map(frame).collect();
        let mut decoder = FrameDecoder::new();
        decoder.push_bytes(&stream);
        let got: Vec<Msg> = decode_all(&mut decoder)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(got, msgs);
    }

    #[test]
    fn oversized_length_is_refused_before_the_payload_arrives() {
        let mut header = Header::from_bytes(frame(&Msg::Ping).first_chunk().unwrap());
        header.len = (MAX_FRAME_SIZE + 1) as u32;
        let mut decoder = FrameDecoder::new();
        decoder.push_bytes(&header.to_bytes());
        assert!(matches!(
            decoder.next_frame(),
            Err(ImsgError::FrameTooLarge { len, .. }) if len == MAX_FRAME_SIZE + 1
        ));
    }

    #[test]
    fn sending_an_oversized_message_fails_cleanly() {
        let big = Msg::Blob(vec![0; MAX_FRAME_SIZE]);
        assert!(matches!(
            encode_frame(&big, 0, 0, false),
            Err(ImsgError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn length_shorter_than_the_header_is_refused() {
        let mut header = Header::from_bytes(frame(&Msg::Ping).first_chunk().unwrap());
        header.len = 3;
        let mut decoder = FrameDecoder::new();
        decoder.push_bytes(&header.to_bytes());
        assert!(matches!(
            decoder.next_frame(),
            Err(ImsgError::FrameTooShort { len: 3, .. })
        ));
    }

    #[test]
    fn unknown_flags_are_refused() {
        let mut bytes = frame(&Msg::Ping);
        bytes[8] = 0x80;
        let mut decoder = FrameDecoder::new();
        decoder.push_bytes(&bytes);
        assert!(matches!(
            decoder.next_frame(),
            Err(ImsgError::UnknownFlags { flags: 0x80 })
        ));
    }

    #[test]
    fn garbage_payload_is_a_decode_error() {
        let header = Header {
            kind: 1,
            len: (HEADER_LEN + 4) as u32,
            ..Header::default()
        };
        // Variant 1 (Text) with a string length far beyond the payload.
        let payload = [1u8, 0xfb, 0xff, 0xff];
        let mut decoder = FrameDecoder::new();
        decoder.push_bytes(&header.to_bytes());
        decoder.push_bytes(&payload);
        let raw = decoder.next_frame().unwrap().unwrap();
        assert!(matches!(
            decode_payload::<Msg>(&raw.header, &raw.payload),
            Err(ImsgError::Decode {
                kind: 1,
                len: 4,
                ..
            })
        ));
    }

    #[test]
    fn unknown_variant_is_a_decode_error() {
        let header = Header {
            kind: 200,
            len: (HEADER_LEN + 2) as u32,
            ..Header::default()
        };
        assert!(matches!(
            decode_payload::<Msg>(&header, &[0xc8, 0x00]),
            Err(ImsgError::Decode { kind: 200, .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_a_decode_error() {
        let mut bytes = frame(&Msg::Ping);
        bytes.push(0);
        let header = Header {
            len: bytes.len() as u32,
            ..Header::from_bytes(bytes.first_chunk().unwrap())
        };
        let err = decode_payload::<Msg>(&header, &bytes[HEADER_LEN..]).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
    }

    #[test]
    fn header_type_must_match_the_payload() {
        let bytes = frame(&Msg::Text("x".into()));
        let header = Header {
            kind: 2,
            ..Header::from_bytes(bytes.first_chunk().unwrap())
        };
        assert!(matches!(
            decode_payload::<Msg>(&header, &bytes[HEADER_LEN..]),
            Err(ImsgError::KindMismatch {
                header: 2,
                payload: 1,
                name: "Text"
            })
        ));
    }

    #[test]
    fn truncated_header_or_payload_at_eof_is_reported() {
        let bytes = frame(&Msg::Text("truncated".into()));
        for cut in [5, HEADER_LEN, bytes.len() - 1] {
            let mut decoder = FrameDecoder::new();
            decoder.push_bytes(&bytes[..cut]);
            assert!(decoder.next_frame().unwrap().is_none());
            assert!(matches!(
                decoder.check_eof(),
                Err(ImsgError::Truncated { buffered }) if buffered == cut
            ));
        }
    }

    #[test]
    fn descriptor_goes_to_the_frame_that_announced_it() {
        let (read_end, _write_end) = nix::unistd::pipe().unwrap();
        let raw = read_end.as_raw_fd();
        let mut decoder = FrameDecoder::new();
        decoder.push_bytes(&frame(&Msg::Ping));
        // The fd arrives with the first byte of the second frame.
        let second = encode_frame(&Msg::Text("fd".into()), 0, 0, true).unwrap();
        decoder.push_bytes(&second[..1]);
        decoder.push_fd(read_end);
        decoder.push_bytes(&second[1..]);
        decoder.push_bytes(&frame(&Msg::Ping));

        let first = decoder.next_frame().unwrap().unwrap();
        assert!(first.fd.is_none());
        let second = decoder.next_frame().unwrap().unwrap();
        assert!(second.header.has_fd());
        assert_eq!(second.fd.as_ref().map(|fd| fd.as_raw_fd()), Some(raw));
        let third = decoder.next_frame().unwrap().unwrap();
        assert!(third.fd.is_none());
        assert_eq!(decoder.queued_fds(), 0);
    }

    #[test]
    fn announced_descriptor_that_never_came_is_an_error() {
        let bytes = encode_frame(&Msg::Ping, 0, 0, true).unwrap();
        let mut decoder = FrameDecoder::new();
        decoder.push_bytes(&bytes);
        assert!(matches!(
            decoder.next_frame(),
            Err(ImsgError::MissingFd { kind: 0 })
        ));
    }
}
