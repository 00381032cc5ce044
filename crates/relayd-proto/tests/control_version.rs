//! The control protocol's version handshake: the `Hello` messages read the
//! same in every build, a mismatch is named, and the version is tied to the
//! text of the messages so a change to them cannot ship without a bump.

use relayd_proto::control::{check_version, ControlReply, ControlRequest, VersionMismatch};
use relayd_proto::frame::{decode_payload, encode_frame, Header, HEADER_LEN};
use relayd_proto::CONTROL_VERSION;

/// The `Hello` frames of any build: type 0, then the version as a bincode
/// varint. An older or newer relayctl sends exactly these bytes.
fn hello_frame(version: u32) -> Vec<u8> {
    encode_frame(&ControlRequest::Hello { version }, 0, 0, false).unwrap()
}

#[test]
fn hello_is_variant_zero_and_reads_the_same_in_every_build() {
    for version in [0, 1, 250, 70_000, u32::MAX] {
        let frame = hello_frame(version);
        let header = Header::from_bytes(frame.first_chunk().unwrap());
        assert_eq!(header.kind, 0);
        let request: ControlRequest = decode_payload(&header, &frame[HEADER_LEN..]).unwrap();
        assert_eq!(request, ControlRequest::Hello { version });
        // The reply has the very same layout.
        let reply: ControlReply = decode_payload(&header, &frame[HEADER_LEN..]).unwrap();
        assert_eq!(reply, ControlReply::Hello { version });
    }
}

#[test]
fn a_mismatch_names_both_versions() {
    assert_eq!(check_version(CONTROL_VERSION, CONTROL_VERSION), Ok(()));
    let mismatch = check_version(3, 2).unwrap_err();
    assert_eq!(
        mismatch,
        VersionMismatch {
            relayctl: 3,
            relayd: 2
        }
    );
    assert_eq!(
        mismatch.to_string(),
        "relayctl protocol version 3, relayd speaks 2"
    );
}

/// FNV-1a over the code of the control messages and the status rows:
/// comments, tests, whitespace and commas left out, so reformatting does
/// not count as a change.
fn messages_fingerprint() -> u64 {
    let sources = [
        include_str!("../src/control.rs"),
        include_str!("../src/status.rs"),
        include_str!("../src/host_error.rs"),
    ];
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for source in sources {
        let code = source.split("#[cfg(test)]").next().unwrap_or(source);
        for line in code.lines().map(str::trim) {
            if line.is_empty() || line.starts_with("//") {
                continue;
            }
            let significant = line
                .bytes()
                .filter(|b| !b.is_ascii_whitespace() && *b != b',');
            for byte in significant {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    hash
}

#[test]
fn the_version_moves_with_the_messages() {
    assert_eq!(
        (CONTROL_VERSION, messages_fingerprint()),
        (11, 0x2209_d09a_9a53_800a),
        "control.rs, status.rs or host_error.rs changed: bump CONTROL_VERSION and put the \
         new version and fingerprint here"
    );
}
