//! `check icmp` with real raw sockets: up against the loopback addresses,
//! down against a neighbour that does not exist, inside a network namespace
//! this test creates (so nothing leaves the machine's loopback). Needs root
//! and ip(8); without them every test skips (`e2e::skip_or_fail`), or fails
//! under RELAYD_E2E_REQUIRED=1.

use std::time::Duration;

use e2e::Namespace;
use relayd_check::{check_host, HostError, IcmpPinger, IcmpSockets, Target};
use relayd_config::Check;

const TIMEOUT: Duration = Duration::from_millis(500);

fn target(addr: &str) -> Target {
    Target {
        addr: addr.parse().unwrap(),
        port: 0,
        ip_ttl: None,
    }
}

#[tokio::test]
async fn loopback_answers_on_v4_and_v6() {
    if !e2e::running_as_root() {
        return;
    }
    let pinger = IcmpPinger::new(IcmpSockets::open().unwrap()).unwrap();
    for addr in ["127.0.0.1", "::1"] {
        let outcome = check_host(&Check::Icmp, &target(addr), TIMEOUT, Some(&pinger)).await;
        assert!(outcome.up, "{addr}: {outcome:?}");
        assert_eq!(outcome.error, HostError::IcmpOk);
        assert_eq!(outcome.error.to_string(), "icmp ok");
    }
    let mut with_ttl = target("127.0.0.1");
    with_ttl.ip_ttl = Some(1);
    let outcome = check_host(&Check::Icmp, &with_ttl, TIMEOUT, Some(&pinger)).await;
    assert!(outcome.up, "ttl 1: {outcome:?}");
    assert_eq!(pinger.pending(), 0, "finished checks leave no waiter");
}

#[tokio::test]
async fn many_hosts_share_one_socket_per_family() {
    if !e2e::running_as_root() {
        return;
    }
    let pinger = IcmpPinger::new(IcmpSockets::open().unwrap()).unwrap();
    // Every 127/8 address answers on loopback, from itself. Thousands of
    // checks starting at once also make sure replies are not lost while
    // the requests are still going out (socket receive buffer overflow).
    let targets: Vec<Target> = (0..5000u32)
        .map(|i| target(&format!("127.4.{}.{}", i / 250, i % 250 + 1)))
        .collect();
    let checks = targets
        .iter()
        .map(|t| check_host(&Check::Icmp, t, Duration::from_secs(2), Some(&pinger)));
    let outcomes = futures_join_all(checks).await;
    let down: Vec<_> = outcomes.iter().filter(|o| !o.up).collect();
    assert!(
        down.is_empty(),
        "{} of {} down: {:?}",
        down.len(),
        outcomes.len(),
        down.first()
    );
    assert_eq!(pinger.pending(), 0);
}

#[tokio::test]
async fn without_sockets_the_host_is_down() {
    let outcome = check_host(&Check::Icmp, &target("127.0.0.1"), TIMEOUT, None).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::IcmpWriteTimeout);

    // A pinger lacking the family of the target.
    if !e2e::running_as_root() {
        return;
    }
    let mut sockets = IcmpSockets::open().unwrap();
    sockets.v6 = None;
    let pinger = IcmpPinger::new(sockets).unwrap();
    let outcome = check_host(&Check::Icmp, &target("::1"), TIMEOUT, Some(&pinger)).await;
    assert_eq!(outcome.error, HostError::IcmpWriteTimeout);
}

#[tokio::test]
async fn missing_neighbour_times_out() {
    if !e2e::running_as_root() {
        return;
    }
    let Some(namespace) = e2e::or_skip(namespace_with_a_silent_link()) else {
        return;
    };
    // Sockets belong to the namespace they are created in, so open them
    // from a thread inside it; they keep working from any thread.
    let sockets = namespace.run(|| IcmpSockets::open().unwrap());
    let pinger = IcmpPinger::new(sockets).unwrap();

    // Control: the namespace's own address answers, so the pinger works
    // there and a timeout below means "no answer", not "broken socket".
    // The kernel may still be finishing the link's set-up (IPv6 reacts to
    // the veth carrier a moment after it is reported), so the control may
    // take a few rounds; it must succeed within ten.
    for own in ["192.0.2.1", "2001:db8::1"] {
        let mut outcome = check_host(&Check::Icmp, &target(own), TIMEOUT, Some(&pinger)).await;
        for _ in 1..10 {
            if outcome.up {
                break;
            }
            outcome = check_host(&Check::Icmp, &target(own), TIMEOUT, Some(&pinger)).await;
        }
        assert!(outcome.up, "{own}: {outcome:?}");
    }
    for absent in ["192.0.2.2", "2001:db8::2"] {
        let outcome = check_host(&Check::Icmp, &target(absent), TIMEOUT, Some(&pinger)).await;
        assert!(!outcome.up, "{absent}: {outcome:?}");
        assert_eq!(outcome.error, HostError::IcmpReadTimeout, "{absent}");
        assert_eq!(outcome.error.to_string(), "icmp read timeout");
        assert!(outcome.elapsed >= TIMEOUT, "{outcome:?}");
        assert!(outcome.elapsed < TIMEOUT * 3, "{outcome:?}");
    }
    assert_eq!(pinger.pending(), 0);
}

/// A network namespace with a veth pair whose near end has 192.0.2.1/24 and
/// 2001:db8::1/64 (documentation prefixes) and whose far end has no address:
/// neighbours on that link never answer. Removed on drop.
fn namespace_with_a_silent_link() -> Result<Namespace, String> {
    let namespace = Namespace::create("relaydchk")?;
    for args in [
        &[
            "link", "add", "chk0", "type", "veth", "peer", "name", "chk1",
        ][..],
        &["link", "set", "chk0", "up"],
        &["link", "set", "chk1", "up"],
        &["addr", "add", "192.0.2.1/24", "dev", "chk0"],
        &[
            "-6",
            "addr",
            "add",
            "2001:db8::1/64",
            "dev",
            "chk0",
            "nodad",
        ],
    ] {
        let mut full = vec!["-n", &namespace.name];
        full.extend_from_slice(args);
        e2e::ip(&full)?;
    }
    for own in ["192.0.2.1", "2001:db8::1"] {
        namespace.wait_for_local_address(own)?;
    }
    Ok(namespace)
}

/// Runs futures concurrently on the current task and collects their
/// results in order (no futures crate needed).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let futures: Vec<_> = futures.map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut futures: Vec<_> = futures.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, result) in futures.iter_mut().zip(results.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(output) => {
                        *result = Some(output);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results.into_iter().map(|r| r.unwrap()).collect()
}
