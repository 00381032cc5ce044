//! The channels on real sockets: large frames written in pieces, garbage
//! from a peer, end-of-file in the middle of a frame, extra descriptors,
//! cancelled receives, the frame time limit, and the blocking variant.

use relayd_proto::frame::encode_frame;
use relayd_proto::{BlockingChannel, ImsgChannel, ImsgError};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Msg {
    Hello(u32),
    Blob(Vec<u8>),
}

type Channel = ImsgChannel<Msg, Msg>;

/// An async channel and the raw socket at its other end.
fn channel_and_raw_peer() -> (Channel, StdUnixStream) {
    let (ours, theirs) = StdUnixStream::pair().unwrap();
    (Channel::new(ours).unwrap(), theirs)
}

#[tokio::test]
async fn large_frame_with_descriptor_arrives_whole() {
    let (a, mut b) = Channel::pair().unwrap();
    let blob: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let (pipe_read, pipe_write) = nix::unistd::pipe().unwrap();
    let big = Msg::Blob(blob.clone());
    let (mut reader, mut writer) = a.split();
    let send = async {
        writer.send(&Msg::Hello(1), None).await.unwrap();
        writer.send(&big, Some(pipe_write)).await.unwrap();
        writer.send(&Msg::Hello(2), None).await.unwrap();
    };
    let recv = async {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(b.recv().await.unwrap().unwrap());
        }
        got
    };
    let ((), got) = tokio::join!(send, recv);
    assert_eq!(got[0].msg, Msg::Hello(1));
    assert!(got[0].fd.is_none());
    assert_eq!(got[1].msg, big);
    assert!(got[2].fd.is_none());
    assert_eq!(got[2].msg, Msg::Hello(2));
    let mut file = std::fs::File::from(got.into_iter().nth(1).unwrap().fd.unwrap());
    file.write_all(b"ok").unwrap();
    drop(file);
    let mut text = String::new();
    std::fs::File::from(pipe_read)
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "ok");
    // The other direction still works independently.
    drop(writer);
    assert!(b.send(&Msg::Hello(3), None).await.is_ok());
    assert_eq!(reader.recv().await.unwrap().unwrap().msg, Msg::Hello(3));
}

#[tokio::test]
async fn garbage_closes_the_channel_and_the_peer_sees_eof() {
    let (mut channel, mut raw) = channel_and_raw_peer();
    let mut frame = encode_frame(&Msg::Hello(1), 0, 0, false).unwrap();
    // Variant index 9 does not exist.
    *frame.last_mut().unwrap() = 1;
    frame[18] = 9;
    raw.write_all(&frame).unwrap();
    let err = channel.recv().await.unwrap_err();
    assert!(matches!(err, ImsgError::Decode { .. }), "{err}");
    assert!(matches!(channel.recv().await, Err(ImsgError::Closed)));
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(raw.read(&mut buf).unwrap(), 0, "peer must see end-of-file");
}

#[tokio::test]
async fn oversized_header_closes_the_channel() {
    let (mut channel, mut raw) = channel_and_raw_peer();
    let mut header = [0u8; 18];
    header[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    raw.write_all(&header).unwrap();
    assert!(matches!(
        channel.recv().await,
        Err(ImsgError::FrameTooLarge { .. })
    ));
}

#[tokio::test]
async fn eof_inside_a_frame_is_truncation_and_clean_eof_is_none() {
    let (mut channel, mut raw) = channel_and_raw_peer();
    let frame = encode_frame(&Msg::Hello(5), 0, 0, false).unwrap();
    raw.write_all(&frame).unwrap();
    raw.write_all(&frame[..10]).unwrap();
    drop(raw);
    assert_eq!(channel.recv().await.unwrap().unwrap().msg, Msg::Hello(5));
    assert!(matches!(
        channel.recv().await,
        Err(ImsgError::Truncated { buffered: 10 })
    ));

    let (mut channel, raw) = channel_and_raw_peer();
    drop(raw);
    assert!(channel.recv().await.unwrap().is_none());
    assert!(channel.recv().await.unwrap().is_none());
}

/// A peer that attaches several descriptors to one frame: the first is
/// delivered, the others are closed, not leaked.
#[tokio::test]
async fn extra_descriptors_are_closed() {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let (mut channel, raw) = channel_and_raw_peer();
    let (kept_read, kept_write) = nix::unistd::pipe().unwrap();
    let (extra_read, extra_write) = nix::unistd::pipe().unwrap();
    let frame = encode_frame(&Msg::Hello(7), 0, 0, true).unwrap();
    let fds = [kept_write.as_raw_fd(), extra_write.as_raw_fd()];
    sendmsg::<()>(
        raw.as_raw_fd(),
        &[std::io::IoSlice::new(&frame)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .unwrap();
    drop(kept_write);
    drop(extra_write);

    let received = channel.recv().await.unwrap().unwrap();
    assert_eq!(received.msg, Msg::Hello(7));
    let kept: OwnedFd = received.fd.unwrap();

    // The only write end left of the extra pipe was the receiver's copy; if it
    // was closed, the read end reports end-of-file at once.
    let mut extra = std::fs::File::from(extra_read);
    let mut buf = [0u8; 1];
    assert_eq!(extra.read(&mut buf).unwrap(), 0);

    // The kept one still works.
    std::fs::File::from(kept).write_all(b"x").unwrap();
    std::fs::File::from(kept_read).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"x");
}

/// `recv` inside a timeout that keeps expiring while a frame trickles in
/// byte by byte still yields the frame: nothing is lost on cancellation.
#[tokio::test]
async fn recv_is_cancel_safe() {
    let (mut channel, mut raw) = channel_and_raw_peer();
    let frame = encode_frame(&Msg::Blob(vec![3; 40]), 0, 0, false).unwrap();
    let writer = std::thread::spawn(move || {
        for byte in frame {
            raw.write_all(&[byte]).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        raw
    });
    let mut timeouts = 0;
    let received = loop {
        match tokio::time::timeout(Duration::from_micros(300), channel.recv()).await {
            Ok(result) => break result.unwrap().unwrap(),
            Err(_) => timeouts += 1,
        }
    };
    assert_eq!(received.msg, Msg::Blob(vec![3; 40]));
    assert!(timeouts > 0, "the test must actually cancel some receives");
    drop(writer.join().unwrap());
}

/// With a frame limit, the time counts from a frame's first byte: a peer
/// idling between frames is never timed out, a frame in two pieces within
/// the limit arrives, and half a header sent after an idle spell gets the
/// whole limit (however many receives were dropped meanwhile), then the
/// channel fails and the peer sees end-of-file.
#[tokio::test]
async fn a_frame_must_be_complete_within_the_limit_of_its_first_byte() {
    let limit = Duration::from_millis(400);
    let (channel, mut raw) = channel_and_raw_peer();
    let (mut reader, _writer) = channel.split();
    reader.limit_frame_time(limit);
    let step = Duration::from_millis(50);
    for _ in 0..3 {
        assert!(
            tokio::time::timeout(limit, reader.recv()).await.is_err(),
            "an idle peer is not an error"
        );
    }

    let frame = encode_frame(&Msg::Hello(7), 0, 0, false).unwrap();
    raw.write_all(&frame[..5]).unwrap();
    let sent = Instant::now();
    while sent.elapsed() < limit / 2 {
        assert!(tokio::time::timeout(step, reader.recv()).await.is_err());
    }
    raw.write_all(&frame[5..]).unwrap();
    let received = tokio::time::timeout(limit, reader.recv()).await;
    assert_eq!(received.unwrap().unwrap().unwrap().msg, Msg::Hello(7));

    tokio::time::sleep(limit * 2).await;
    let started = Instant::now();
    raw.write_all(&[0u8; 10]).unwrap();
    let error = loop {
        if let Ok(result) = tokio::time::timeout(step, reader.recv()).await {
            break result.unwrap_err();
        }
    };
    let took = started.elapsed();
    assert!(
        matches!(error, ImsgError::FrameTimeout { buffered: 10, .. }),
        "{error}"
    );
    assert!(
        took >= limit && took < limit * 3,
        "timed out after {took:?}"
    );
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(raw.read(&mut byte).unwrap(), 0, "the peer sees end-of-file");
}

#[test]
fn blocking_channel_talks_to_an_async_one() {
    let (ours, theirs) = StdUnixStream::pair().unwrap();
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut channel = Channel::new(theirs).unwrap();
            while let Some(received) = channel.recv().await.unwrap() {
                let Msg::Hello(n) = received.msg else {
                    panic!("unexpected {:?}", received.msg)
                };
                channel.send(&Msg::Hello(n + 1), received.fd).await.unwrap();
            }
        });
    });

    let mut client: BlockingChannel<Msg, Msg> = BlockingChannel::new(ours);
    client.send(&Msg::Hello(1), None).unwrap();
    assert_eq!(client.recv().unwrap().unwrap().msg, Msg::Hello(2));

    let (pipe_read, pipe_write) = nix::unistd::pipe().unwrap();
    client.send(&Msg::Hello(10), Some(pipe_write)).unwrap();
    let echoed = client.recv().unwrap().unwrap();
    assert_eq!(echoed.msg, Msg::Hello(11));
    std::fs::File::from(echoed.fd.unwrap())
        .write_all(b"echo")
        .unwrap();
    let mut text = String::new();
    std::fs::File::from(pipe_read)
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "echo");

    drop(client);
    server.join().unwrap();
}

#[test]
fn blocking_recv_timeout_leaves_the_channel_usable() {
    let (ours, theirs) = StdUnixStream::pair().unwrap();
    let mut client: BlockingChannel<Msg, Msg> = BlockingChannel::new(ours);
    let mut peer: BlockingChannel<Msg, Msg> = BlockingChannel::new(theirs);
    client
        .stream()
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    assert!(matches!(client.recv(), Err(ImsgError::Io(_))));
    peer.send(&Msg::Hello(4), None).unwrap();
    assert_eq!(client.recv().unwrap().unwrap().msg, Msg::Hello(4));
}
