//! Object identifiers (RFC 2741 5.1): ordered as SNMP orders them (sub-
//! identifier by sub-identifier, a prefix before its extensions), at most
//! [`MAX_SUBIDS`] long, with the `internet` prefix compression of the wire.

use crate::pdu::DecodeError;
use crate::wire::{Reader, Writer};
use std::fmt;

/// SNMP's limit on sub-identifiers (RFC 2578 3.5).
pub const MAX_SUBIDS: usize = 128;

/// 1.3.6.1, what a non-zero `prefix` byte stands before.
const INTERNET: [u32; 4] = [1, 3, 6, 1];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidError {
    #[error("an object identifier has at most {MAX_SUBIDS} sub-identifiers, not {0}")]
    TooLong(usize),
}

/// An object identifier; the empty one is the null OID.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(Vec<u32>);

impl Oid {
    pub fn new(subids: Vec<u32>) -> Result<Self, OidError> {
        if subids.len() > MAX_SUBIDS {
            return Err(OidError::TooLong(subids.len()));
        }
        Ok(Oid(subids))
    }

    /// An OID of a constant no longer than the limit (relayd's own OIDs).
    pub fn from_slice(subids: &[u32]) -> Result<Self, OidError> {
        Self::new(subids.to_vec())
    }

    pub fn subids(&self) -> &[u32] {
        &self.0
    }

    pub fn is_null(&self) -> bool {
        self.0.is_empty()
    }

    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// This OID with `more` appended, if the result stays within the limit.
    pub fn join(&self, more: &[u32]) -> Result<Oid, OidError> {
        let mut subids = self.0.clone();
        subids.extend_from_slice(more);
        Oid::new(subids)
    }

    /// Reads an OID and its `include` byte.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<(Oid, bool), DecodeError> {
        let n = usize::from(r.u8()?);
        let prefix = r.u8()?;
        let include = r.u8()? != 0;
        r.u8()?;
        let mut subids = Vec::with_capacity(n + INTERNET.len() + 1);
        if prefix != 0 {
            subids.extend_from_slice(&INTERNET);
            subids.push(u32::from(prefix));
        }
        for _ in 0..n {
            subids.push(r.u32()?);
        }
        let oid = Oid::new(subids).map_err(DecodeError::Oid)?;
        Ok((oid, include))
    }

    /// Writes the OID uncompressed (prefix 0), with `include`.
    pub(crate) fn encode(&self, w: &mut Writer, include: bool) {
        // At most MAX_SUBIDS (128) by construction: it fits the byte.
        w.u8(self.0.len() as u8);
        w.u8(0);
        w.u8(u8::from(include));
        w.u8(0);
        for subid in &self.0 {
            w.u32(*subid);
        }
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for subid in &self.0 {
            if !first {
                f.write_str(".")?;
            }
            first = false;
            write!(f, "{subid}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_by_subidentifier_not_by_text() {
        let a = Oid::from_slice(&[1, 2]).unwrap();
        let b = Oid::from_slice(&[1, 10]).unwrap();
        let c = Oid::from_slice(&[1, 2, 0]).unwrap();
        assert!(a < b);
        assert!(a < c);
        assert!(c < b);
    }

    #[test]
    fn the_internet_prefix_is_expanded() {
        // n=2, prefix=4 (private), include=1: 1.3.6.1.4.1.30155
        let bytes = [2, 4, 1, 0, 0, 0, 0, 1, 0, 0, 0x75, 0xcb];
        let mut r = Reader::new(&bytes, true);
        let (oid, include) = Oid::decode(&mut r).unwrap();
        assert_eq!(oid.to_string(), "1.3.6.1.4.1.30155");
        assert!(include);
    }

    #[test]
    fn a_prefixed_oid_over_the_limit_is_refused() {
        let mut bytes = vec![126, 4, 0, 0];
        bytes.resize(4 + 126 * 4, 0);
        let mut r = Reader::new(&bytes, true);
        assert!(matches!(
            Oid::decode(&mut r),
            Err(DecodeError::Oid(OidError::TooLong(131)))
        ));
    }
}
