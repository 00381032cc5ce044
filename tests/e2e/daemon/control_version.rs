//! End-to-end: the control socket's version handshake. A client of another
//! protocol version gets relayd's version, then the end of the connection,
//! and relayd logs both numbers; a client of this version is served. Needs
//! root.

use e2e::{checked_relay_config, control_stream, daemon_can_run, free_port, wait_until, Daemon};
use relayd_proto::control::{ControlClient, ControlReply, ControlRequest, CONTROL_VERSION};
use std::time::Duration;

fn config() -> String {
    checked_relay_config(1, free_port())
}

fn client(daemon: &Daemon) -> ControlClient {
    ControlClient::new(control_stream(&daemon.socket, Duration::from_secs(10)))
}

#[test]
fn a_client_of_another_version_gets_relayd_version_and_is_closed() {
    if !daemon_can_run() {
        return;
    }
    let daemon = Daemon::start("control-version", &config());
    let theirs = CONTROL_VERSION + 7;
    let mut channel = client(&daemon);
    channel
        .send(&ControlRequest::Hello { version: theirs }, None)
        .expect("send hello");
    let hello = channel.recv().expect("relayd answers").expect("a frame");
    assert_eq!(
        hello.msg,
        ControlReply::Hello {
            version: CONTROL_VERSION
        }
    );
    assert!(
        channel.recv().expect("clean end").is_none(),
        "nothing follows relayd's hello"
    );
    let logged = format!("relayctl protocol version {theirs}, relayd speaks {CONTROL_VERSION}");
    assert!(
        wait_until(Duration::from_secs(5), || daemon
            .log_text()
            .contains(&logged)),
        "the log names both versions:\n{}",
        daemon.log_text()
    );

    // The daemon goes on serving clients of its own version.
    let mut channel = client(&daemon);
    channel
        .send(
            &ControlRequest::Hello {
                version: CONTROL_VERSION,
            },
            None,
        )
        .expect("send hello");
    let hello = channel.recv().expect("relayd answers").expect("a frame");
    assert_eq!(
        hello.msg,
        ControlReply::Hello {
            version: CONTROL_VERSION
        }
    );
    channel
        .send(&ControlRequest::ShowSummary, None)
        .expect("send request");
    let mut replies = Vec::new();
    while let Some(received) = channel.recv().expect("replies") {
        let end = received.msg == ControlReply::End;
        replies.push(received.msg);
        if end {
            break;
        }
    }
    assert!(
        replies
            .iter()
            .any(|r| matches!(r, ControlReply::Relay(row) if row.name == "www")),
        "{replies:?}"
    );
}
