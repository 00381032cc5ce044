//! Finds the enum variant of a message without encoding it, so the frame
//! header can carry the message type the way C imsg does.
//!
//! The probe is a serde `Serializer` that stops at the first enum variant it
//! is shown. Message enums therefore need no hand-written type numbers: the
//! variant index (declaration order) is the imsg type.
//!
//! Envelopes (`messages::ToChild`, `messages::ToParent`) wrap another
//! message enum in each variant; the probe looks inside them, so every
//! message keeps a type of its own: [`envelope_kind`] puts the envelope's
//! variant (from 1) in the high 16 bits and the inner variant in the low
//! ones. `Lifecycle::Reset` inside `ToChild` is `0x1_0000`, the first engine
//! message `0x2_0000`.

use serde::ser::{self, Impossible, Serialize};
use std::fmt;

/// The imsg type of a message: its variant index and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageKind {
    /// Variant index in declaration order; the `type` field of the header.
    pub index: u32,
    /// Variant name as written in Rust, e.g. `"HostStatus"`.
    pub name: &'static str,
}

/// The serde names of the envelope enums (see the module documentation).
const ENVELOPES: [&str; 2] = ["ToChild", "ToParent"];

/// The imsg type of the message of variant `inner` inside variant `outer`
/// of an envelope.
pub const fn envelope_kind(outer: u32, inner: u32) -> u32 {
    ((outer + 1) << 16) | inner
}

/// The kind of `msg`. Values that are not enums get index 0 and an empty name.
pub fn message_kind<M: Serialize + ?Sized>(msg: &M) -> MessageKind {
    match msg.serialize(VariantProbe) {
        Err(Probe::Found(kind)) => kind,
        Ok(()) | Err(Probe::NotAnEnum) => MessageKind { index: 0, name: "" },
    }
}

/// Outcome of probing, carried in the error channel so probing stops early.
#[derive(Debug)]
enum Probe {
    Found(MessageKind),
    NotAnEnum,
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("message kind probe")
    }
}

impl std::error::Error for Probe {}

impl ser::Error for Probe {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Probe::NotAnEnum
    }
}

struct VariantProbe;

fn found(index: u32, name: &'static str) -> Result<Impossible<(), Probe>, Probe> {
    Err(Probe::Found(MessageKind { index, name }))
}

fn not_an_enum<T>() -> Result<T, Probe> {
    Err(Probe::NotAnEnum)
}

impl ser::Serializer for VariantProbe {
    type Ok = ();
    type Error = Probe;
    type SerializeSeq = Impossible<(), Probe>;
    type SerializeTuple = Impossible<(), Probe>;
    type SerializeTupleStruct = Impossible<(), Probe>;
    type SerializeTupleVariant = Impossible<(), Probe>;
    type SerializeMap = Impossible<(), Probe>;
    type SerializeStruct = Impossible<(), Probe>;
    type SerializeStructVariant = Impossible<(), Probe>;

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<(), Probe> {
        found(index, variant).map(|_| ())
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Probe> {
        if ENVELOPES.contains(&name) {
            let inner = message_kind(value);
            return Err(Probe::Found(MessageKind {
                index: envelope_kind(index, inner.index),
                name: inner.name,
            }));
        }
        found(index, variant).map(|_| ())
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Probe> {
        found(index, variant)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Probe> {
        found(index, variant)
    }

    // A newtype struct around an enum still has the enum's kind.
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Probe> {
        value.serialize(self)
    }

    fn serialize_bool(self, _v: bool) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_i8(self, _v: i8) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_i16(self, _v: i16) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_i32(self, _v: i32) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_i64(self, _v: i64) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_u8(self, _v: u8) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_u16(self, _v: u16) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_u32(self, _v: u32) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_u64(self, _v: u64) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_char(self, _v: char) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_str(self, _v: &str) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_none(self) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _value: &T) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_unit(self) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Probe> {
        not_an_enum()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Probe> {
        not_an_enum()
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Probe> {
        not_an_enum()
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Probe> {
        not_an_enum()
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Probe> {
        not_an_enum()
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Probe> {
        not_an_enum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    enum Sample {
        Unit,
        Newtype(u32),
        Tuple(u8, u8),
        Struct { a: String },
    }

    #[test]
    fn every_variant_shape_is_found() {
        let cases = [
            (Sample::Unit, 0, "Unit"),
            (Sample::Newtype(7), 1, "Newtype"),
            (Sample::Tuple(1, 2), 2, "Tuple"),
            (Sample::Struct { a: "x".into() }, 3, "Struct"),
        ];
        for (msg, index, name) in cases {
            assert_eq!(message_kind(&msg), MessageKind { index, name });
        }
    }

    #[derive(Serialize)]
    enum ToChild {
        Lifecycle(Sample),
        Engine(Sample),
    }

    #[derive(Serialize)]
    enum Plain {
        Wrapped(Sample),
    }

    #[test]
    fn an_envelope_gives_each_inner_message_a_type_of_its_own() {
        assert_eq!(
            message_kind(&ToChild::Lifecycle(Sample::Unit)),
            MessageKind {
                index: 0x1_0000,
                name: "Unit"
            }
        );
        assert_eq!(
            message_kind(&ToChild::Engine(Sample::Tuple(1, 2))),
            MessageKind {
                index: 0x2_0002,
                name: "Tuple"
            }
        );
        // Other enums holding an enum keep their own variant index.
        assert_eq!(message_kind(&Plain::Wrapped(Sample::Unit)).index, 0);
    }

    #[test]
    fn non_enums_have_kind_zero() {
        assert_eq!(message_kind(&42u32).index, 0);
        assert_eq!(message_kind("text").name, "");
    }
}
