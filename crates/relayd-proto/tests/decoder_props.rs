//! Properties of the frame decoder: any split of a valid stream decodes to
//! the same messages, and arbitrary bytes never panic it.

use proptest::prelude::*;
use relayd_proto::frame::{decode_payload, encode_frame, FrameDecoder};
use relayd_proto::messages::parent_hce::HceToParent;
use relayd_proto::messages::{LifecycleAnswer, ToParent};
use relayd_proto::status::{HostError, HostState, HostStatus};

/// What the hce sends its parent.
type FromHce = ToParent<HceToParent>;

fn host_status() -> impl Strategy<Value = FromHce> {
    (any::<u32>(), any::<u64>(), 0u8..3, 0u8..4).prop_map(|(id, count, state, error)| {
        ToParent::Engine(HceToParent::HostStatus(HostStatus {
            host_id: id,
            table_id: id / 2,
            state: [HostState::Unknown, HostState::Up, HostState::Down][state as usize],
            check_count: count,
            up_count: count / 2,
            retry_count: 0,
            last_error: [
                HostError::None,
                HostError::TcpConnectOk,
                HostError::TcpConnectFail,
                HostError::ScriptTimeout,
            ][error as usize],
            last_check_micros: Some(count / 3),
        }))
    })
}

fn message() -> impl Strategy<Value = FromHce> {
    prop_oneof![
        Just(ToParent::Lifecycle(LifecycleAnswer::Ready)),
        Just(ToParent::Engine(HceToParent::Sync)),
        host_status(),
    ]
}

proptest! {
    #[test]
    fn any_split_decodes_the_same_messages(
        msgs in proptest::collection::vec(message(), 1..20),
        cuts in proptest::collection::vec(1usize..64, 1..50),
    ) {
        let stream: Vec<u8> = msgs
            .iter()
            .flat_map(|m| encode_frame(m, 0, 0, false).unwrap())
            .collect();
        let mut decoder = FrameDecoder::new();
        let mut got = Vec::new();
        let mut at = 0;
        for cut in cuts.iter().cycle() {
            if at >= stream.len() {
                break;
            }
            let end = (at + cut).min(stream.len());
            decoder.push_bytes(&stream[at..end]);
            at = end;
            while let Some(raw) = decoder.next_frame().unwrap() {
                got.push(decode_payload::<FromHce>(&raw.header, &raw.payload).unwrap());
            }
        }
        prop_assert_eq!(got, msgs);
        prop_assert!(decoder.check_eof().is_ok());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut decoder = FrameDecoder::new();
        decoder.push_bytes(&bytes);
        while let Ok(Some(raw)) = decoder.next_frame() {
            let _ = decode_payload::<FromHce>(&raw.header, &raw.payload);
        }
    }
}
