//! imsg frames (`relayd_proto::frame::FrameDecoder`) cut from a byte
//! stream fed in pieces, and every frame's payload decoded as each
//! message every channel carries (`decode_payload`), as a process does
//! with what a peer sends. No panic; what decodes encodes to bytes that
//! decode and encode to themselves (bincode also reads non-minimal
//! integers, so the first encoding may differ from the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use relayd_proto::frame::{
    decode_payload, encode_frame, FrameDecoder, Header, RawFrame, HEADER_LEN,
};
use relayd_proto::messages::hce_pfe::HceToPfe;
use relayd_proto::messages::hce_relay::HceToRelay;
use relayd_proto::messages::parent_ca::ParentToCa;
use relayd_proto::messages::parent_hce::{HceToParent, ParentToHce};
use relayd_proto::messages::parent_pfe::{ParentToPfe, PfeToParent};
use relayd_proto::messages::parent_relay::{ParentToRelay, RelayToParent};
use relayd_proto::messages::relay_ca::{CaToRelay, RelayToCa};
use relayd_proto::messages::{NoMessage, ToChild, ToParent};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Decodes `frame` as `M`; a decoded message's encoding is stable.
fn decode_as<M: DeserializeOwned + Serialize>(frame: &RawFrame) {
    if let Ok(message) = decode_payload::<M>(&frame.header, &frame.payload) {
        let encoded = encode_frame(&message, 0, 0, false).expect("a decoded message encodes");
        let header = Header::from_bytes(encoded[..HEADER_LEN].try_into().expect("a header"));
        let again: M = decode_payload(&header, &encoded[HEADER_LEN..]).expect("decodes again");
        let twice = encode_frame(&again, 0, 0, false).expect("encodes again");
        assert_eq!(encoded, twice);
    }
}

fn decode_every_message(frame: &RawFrame) {
    decode_as::<ToChild<ParentToHce>>(frame);
    decode_as::<ToParent<HceToParent>>(frame);
    decode_as::<ToChild<ParentToPfe>>(frame);
    decode_as::<ToParent<PfeToParent>>(frame);
    decode_as::<ToChild<ParentToRelay>>(frame);
    decode_as::<ToParent<RelayToParent>>(frame);
    decode_as::<ToChild<ParentToCa>>(frame);
    decode_as::<ToParent<NoMessage>>(frame);
    decode_as::<HceToPfe>(frame);
    decode_as::<HceToRelay>(frame);
    decode_as::<RelayToCa>(frame);
    decode_as::<CaToRelay>(frame);
}

fuzz_target!(|data: &[u8]| {
    // The first byte cuts the rest into reads of that size (at least 1).
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let mut decoder = FrameDecoder::new();
    for read in stream.chunks(usize::from(piece).max(1)) {
        decoder.push_bytes(read);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => decode_every_message(&frame),
                Ok(None) => break,
                // A malformed frame closes the channel.
                Err(_) => return,
            }
        }
    }
    let _ = decoder.check_eof();
});
