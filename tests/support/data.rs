//! Test data: bytes that are not all alike, and a checksum to compare
//! what one end sent with what the other received.

/// `len` deterministic bytes (xorshift): the same `len` and `seed` give
/// the same bytes, different seeds different bytes.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    PatternPieces::new(len, seed, len.max(8)).for_each(|piece| bytes.extend(piece));
    bytes
}

/// The bytes of [`pattern`]`(len, seed)` in pieces of `piece` bytes (the
/// last may be shorter), made one at a time: a backend can start sending
/// a large body at once instead of after making all of it.
pub struct PatternPieces {
    state: u64,
    left: usize,
    piece: usize,
}

impl PatternPieces {
    /// `piece` is rounded up to a multiple of eight, the bytes of one step.
    pub fn new(len: usize, seed: u64, piece: usize) -> Self {
        PatternPieces {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            left: len,
            piece: piece.div_ceil(8).max(1) * 8,
        }
    }
}

impl Iterator for PatternPieces {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.left == 0 {
            return None;
        }
        // Eight bytes per xorshift step: tests ask for tens of megabytes,
        // and the support library is built without optimisation.
        let len = self.piece.min(self.left);
        let mut bytes = Vec::with_capacity(len + 8);
        while bytes.len() < len {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            bytes.extend_from_slice(&self.state.to_le_bytes());
        }
        bytes.truncate(len);
        self.left -= len;
        Some(bytes)
    }
}

/// An order-sensitive checksum of a byte stream (FNV-1a), independent of
/// how reads split the stream.
pub struct Checksum {
    state: u64,
    pub len: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Checksum {
            state: 0xcbf2_9ce4_8422_2325,
            len: 0,
        }
    }
}

impl Checksum {
    pub fn add(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.state = (self.state ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
        self.len += bytes.len() as u64;
    }

    pub fn value(&self) -> u64 {
        self.state
    }

    pub fn of(bytes: &[u8]) -> u64 {
        let mut sum = Checksum::default();
        sum.add(bytes);
        sum.value()
    }
}
