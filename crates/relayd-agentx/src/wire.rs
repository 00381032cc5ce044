//! Reading and writing the fixed-size fields of a PDU in the byte order
//! its header names (NETWORK_BYTE_ORDER flag: big-endian, else little).

use crate::pdu::DecodeError;

/// A cursor over a payload; every read checks the length first.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], big_endian: bool) -> Self {
        Reader { bytes, big_endian }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.array()?;
        Ok(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.array()?;
        Ok(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.array()?;
        Ok(if self.big_endian {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }

    /// An Octet String (5.3): length, bytes, padding to four.
    pub(crate) fn octets(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        let data = self.take(len)?;
        self.take(padding(len))?;
        Ok(data)
    }
}

/// A payload being written, big-endian (we set NETWORK_BYTE_ORDER).
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) bytes: Vec<u8>,
}

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    /// Octet strings longer than u32 cannot be made: callers' strings are
    /// names and addresses, and the PDU limit is checked at the end.
    pub(crate) fn octets(&mut self, data: &[u8]) {
        self.u32(u32::try_from(data.len()).unwrap_or(u32::MAX));
        self.bytes.extend_from_slice(data);
        let end = self.bytes.len() + padding(data.len());
        self.bytes.resize(end, 0);
    }
}

fn padding(len: usize) -> usize {
    (4 - len % 4) % 4
}
