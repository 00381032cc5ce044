//! AgentX PDUs as a master sends them (`relayd_agentx`): no panic on any
//! bytes; the header's length bound holds; a Response decoded is encoded
//! again the same way (what the subagent answers is what it read).
#![no_main]

use libfuzzer_sys::fuzz_target;
use relayd_agentx::pdu::{self, decode_frame, Header, HEADER_LEN};
use relayd_agentx::{Pdu, MAX_PDU};

fuzz_target!(|data: &[u8]| {
    if let Some(head) = data.get(..HEADER_LEN).and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok()) {
        if let Ok(header) = Header::decode(head) {
            assert!(header.payload_length as usize <= MAX_PDU);
        }
    }
    if let Ok((header, Pdu::Response(response))) = decode_frame(data) {
        let again = pdu::response(&header, response.error, response.index, &response.varbinds);
        // Prefixed OIDs grow when written out in full: past the limit the
        // subagent would not send it.
        if again.len() - HEADER_LEN > MAX_PDU {
            return;
        }
        let (_, decoded) = decode_frame(&again).expect("our own Response decodes");
        match decoded {
            Pdu::Response(r) => assert_eq!(r.varbinds, response.varbinds),
            other => panic!("a Response decoded as {other:?}"),
        }
    }
});
