//! Chunked bodies pass through unchanged but not unchecked: a scanner
//! follows the chunk framing byte by byte, so the relay knows where the
//! message ends (a pipelined request may follow) and refuses a malformed
//! chunk size, a missing CRLF or an endless extension or trailer.

/// Chunk sizes of 2^60 bytes and more are refused rather than
/// overflowed; the size is judged by its value, so leading zeros are
/// fine (up to a line's worth of them).
const MAX_SIZE: u64 = 1 << 60;
/// Room for an extension or one trailer field.
const MAX_LINE: u32 = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex size; `digits` so far.
    Size {
        digits: u32,
    },
    /// After the size: an extension until CR.
    Extension {
        length: u32,
    },
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    Trailer {
        length: u32,
    },
    TrailerLf,
    FinalLf,
    Done,
}

/// What is wrong with a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ChunkError(pub &'static str);

#[derive(Debug)]
pub struct ChunkScanner {
    state: State,
    /// Size of the chunk being read, then bytes of it still to come.
    remaining: u64,
}

impl Default for ChunkScanner {
    fn default() -> ChunkScanner {
        ChunkScanner {
            state: State::Size { digits: 0 },
            remaining: 0,
        }
    }
}

impl ChunkScanner {
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes of chunk data that come next, before any framing: what may
    /// move without being looked at (with splice(2)).
    pub fn data_left(&self) -> u64 {
        if self.state == State::Data {
            self.remaining
        } else {
            0
        }
    }

    /// `n` bytes of chunk data (at most [`data_left`](Self::data_left))
    /// went by unseen.
    pub fn skip_data(&mut self, n: u64) {
        if self.state != State::Data {
            return;
        }
        self.remaining -= n.min(self.remaining);
        if self.remaining == 0 {
            self.state = State::DataCr;
        }
    }

    /// Follows `data`; returns how many bytes belong to this body (all of
    /// them unless the body ended inside `data`).
    pub fn scan(&mut self, data: &[u8]) -> Result<usize, ChunkError> {
        let mut at = 0;
        while at < data.len() {
            if self.state == State::Done {
                return Ok(at);
            }
            if self.state == State::Data {
                let take = self.remaining.min((data.len() - at) as u64) as usize;
                self.remaining -= take as u64;
                at += take;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.step(data[at])?;
            at += 1;
        }
        Ok(at)
    }

    fn step(&mut self, byte: u8) -> Result<(), ChunkError> {
        self.state = match (self.state, byte) {
            (State::Size { digits }, b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F') => {
                if digits >= MAX_LINE {
                    return Err(ChunkError("chunk size line too long"));
                }
                let value = (byte as char).to_digit(16).unwrap_or(0);
                self.remaining = self.remaining << 4 | u64::from(value);
                if self.remaining >= MAX_SIZE {
                    return Err(ChunkError("chunk size too large"));
                }
                State::Size { digits: digits + 1 }
            }
            (State::Size { digits: 0 }, _) => return Err(ChunkError("invalid chunk size")),
            (State::Size { .. }, b';') => State::Extension { length: 0 },
            (State::Size { .. }, b'\r') => State::SizeLf,
            (State::Size { .. }, _) => return Err(ChunkError("invalid chunk size")),
            (State::Extension { .. }, b'\r') => State::SizeLf,
            (State::Extension { .. }, b'\n') => return Err(ChunkError("bare LF in extension")),
            (State::Extension { length }, _) if length >= MAX_LINE => {
                return Err(ChunkError("chunk extension too long"))
            }
            (State::Extension { length }, _) => State::Extension { length: length + 1 },
            (State::SizeLf, b'\n') if self.remaining == 0 => State::TrailerStart,
            (State::SizeLf, b'\n') => State::Data,
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size { digits: 0 },
            (State::TrailerStart, b'\r') => State::FinalLf,
            (State::TrailerStart, b' ' | b'\t') => return Err(ChunkError("folded trailer")),
            (State::TrailerStart, _) => State::Trailer { length: 1 },
            (State::Trailer { .. }, b'\r') => State::TrailerLf,
            (State::Trailer { .. }, b'\n') => return Err(ChunkError("bare LF in trailer")),
            (State::Trailer { length }, _) if length >= MAX_LINE => {
                return Err(ChunkError("trailer too long"))
            }
            (State::Trailer { length }, _) => State::Trailer { length: length + 1 },
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::FinalLf, b'\n') => State::Done,
            _ => return Err(ChunkError("missing CRLF in chunked body")),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(pieces: &[&[u8]]) -> Result<(usize, bool), ChunkError> {
        let mut scanner = ChunkScanner::default();
        let mut total = 0;
        for piece in pieces {
            total += scanner.scan(piece)?;
        }
        Ok((total, scanner.is_done()))
    }

    #[test]
    fn finds_the_end_of_a_body_split_anywhere() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n";
        for split in 0..body.len() {
            let (a, b) = body.split_at(split);
            assert_eq!(
                scan_all(&[a, b]),
                Ok((body.len(), true)),
                "split at {split}"
            );
        }
        let mut pipelined = body.to_vec();
        pipelined.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(scan_all(&[&pipelined]), Ok((body.len(), true)));
    }

    #[test]
    fn chunk_data_skipped_unseen_keeps_the_framing() {
        let mut scanner = ChunkScanner::default();
        assert_eq!(scanner.data_left(), 0);
        assert_eq!(scanner.scan(b"a\r\n01"), Ok(5));
        assert_eq!(scanner.data_left(), 8);
        scanner.skip_data(8);
        assert_eq!(scanner.data_left(), 0);
        assert_eq!(scanner.scan(b"\r\n0\r\n\r\n"), Ok(7));
        assert!(scanner.is_done());
    }

    #[test]
    fn chunk_sizes_are_judged_by_value() {
        let body = b"000000000000000005\r\nhello\r\n00\r\n\r\n";
        assert_eq!(scan_all(&[body]), Ok((body.len(), true)));
        let largest = b"0fffffffffffffff\r\n";
        assert_eq!(scan_all(&[largest]), Ok((largest.len(), false)));
    }

    #[test]
    fn malformed_framing_is_refused() {
        for body in [
            &b"zz\r\nabc\r\n0\r\n\r\n"[..],
            b"\r\n",
            b"3\nabc\r\n0\r\n\r\n",
            b"3\r\nabcd\r\n0\r\n\r\n",
            b"-1\r\n",
            b"1234567890abcdef0\r\n",
            b"1000000000000000\r\n",
            b"0\r\n folded\r\n\r\n",
        ] {
            assert!(
                scan_all(&[body]).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
