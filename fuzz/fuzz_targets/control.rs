//! The control socket's requests (relayctl -> parent) and replies
//! (parent -> relayctl): frames cut from the stream, decoded as the
//! parent and relayctl decode them, the `Hello` version check. No panic;
//! a decoded request encodes to bytes that decode to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relayd_proto::control::{check_version, ControlReply, ControlRequest, CONTROL_VERSION};
use relayd_proto::frame::{decode_payload, encode_frame, FrameDecoder, Header, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let mut decoder = FrameDecoder::new();
    decoder.push_bytes(data);
    while let Ok(Some(frame)) = decoder.next_frame() {
        if let Ok(request) = decode_payload::<ControlRequest>(&frame.header, &frame.payload) {
            if let ControlRequest::Hello { version } = &request {
                let version = *version;
                let _ = check_version(version, CONTROL_VERSION);
            }
            let encoded = encode_frame(&request, 0, 0, false).expect("a decoded request encodes");
            let header = Header::from_bytes(encoded[..HEADER_LEN].try_into().expect("a header"));
            let again: ControlRequest =
                decode_payload(&header, &encoded[HEADER_LEN..]).expect("decodes again");
            assert_eq!(again, request);
        }
        let _ = decode_payload::<ControlReply>(&frame.header, &frame.payload);
    }
});
