//! relayctl's text output, line for line as relayd's relayctl prints it.
//! Every function takes status structs and returns the text, so the output
//! can be tested without a daemon.

use relayd_proto::control::{IdName, MonitorEvent};
use relayd_proto::frame::Header;
use relayd_proto::status::{
    DnsDrops, HostError, HostRow, HostState, HostStatus, RedirectRow, RelayRow, RouterRow,
    SessionRow, Statistics, TableRow,
};
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Which `show` command is printing: it decides which rows and which detail
/// lines appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Summary,
    Hosts,
    Redirects,
    Relays,
    Routers,
}

/// Header line of every `show` table but sessions.
pub fn summary_header() -> String {
    row("Id", "Type", "Name", "Avlblty", "Status")
}

fn row(id: &str, kind: &str, name: &str, availability: &str, status: &str) -> String {
    format!("{id:<4}\t{kind:<8}\t{name:<24}\t{availability:<7}\t{status}\n")
}

/// Indentation of detail lines below a row.
fn detail(text: &str) -> String {
    format!("\t{:8}\t{text}\n", "")
}

pub fn redirect(view: View, redirect: &RedirectRow) -> String {
    if !matches!(view, View::Summary | View::Redirects) {
        return String::new();
    }
    let mut out = row(
        &redirect.id.to_string(),
        "redirect",
        &redirect.name,
        "",
        redirect.state.as_str(),
    );
    if view == View::Redirects {
        if let Some(stats) = &redirect.stats {
            out += &statistics(std::slice::from_ref(stats));
        }
    }
    out
}

pub fn table_status(table: &TableRow) -> String {
    if table.disabled {
        "disabled".into()
    } else if table.up_hosts == 0 {
        "empty".into()
    } else {
        format!("active ({} hosts)", table.up_hosts)
    }
}

pub fn table(view: View, table: &TableRow) -> String {
    if !matches!(view, View::Summary | View::Hosts) {
        return String::new();
    }
    row(
        &table.id.to_string(),
        "table",
        &table.name,
        "",
        &table_status(table),
    )
}

/// `99.50%`, or empty before the first check.
pub fn availability(status: &HostStatus) -> String {
    status
        .availability()
        .map(|percent| format!("{percent:.2}%"))
        .unwrap_or_default()
}

pub fn host(view: View, host: &HostRow) -> String {
    if !matches!(view, View::Summary | View::Hosts) {
        return String::new();
    }
    let status = &host.status;
    let name = match host.parent_id {
        Some(parent) => format!("{} parent {parent}", host.name),
        None => host.name.clone(),
    };
    let state = if host.disabled {
        "disabled"
    } else {
        status.state.as_str()
    };
    let mut out = row(
        &status.host_id.to_string(),
        "host",
        &name,
        &availability(status),
        state,
    );
    if view == View::Hosts && status.check_count > 0 {
        let mut total = format!("total: {}/{} checks", status.up_count, status.check_count);
        if status.retry_count > 0 {
            let _ = write!(total, ", {} retries", status.retry_count);
        }
        if status.state == HostState::Down && status.last_error != HostError::None {
            let _ = write!(total, ", error: {}", status.last_error);
        }
        out += &detail(&total);
    }
    out
}

fn active_or_disabled(disabled: bool) -> &'static str {
    if disabled {
        "disabled"
    } else {
        "active"
    }
}

pub fn relay(view: View, relay: &RelayRow) -> String {
    if !matches!(view, View::Summary | View::Relays) {
        return String::new();
    }
    let mut out = row(
        &relay.id.to_string(),
        "relay",
        &relay.name,
        "",
        active_or_disabled(relay.disabled),
    );
    if view == View::Relays {
        out += &statistics(&relay.stats);
        out += &dns_drops(&relay.stats);
        out += &http_reuse(&relay.stats);
    }
    out
}

/// An http relay's pooled backend connections, summed over the relay
/// processes; nothing for other relays or `http { no reuse }`.
pub fn http_reuse(stats: &[Statistics]) -> String {
    let mut reported = stats.iter().filter_map(|s| s.http).peekable();
    if reported.peek().is_none() {
        return String::new();
    }
    let (idle, reused) = reported.fold((0u64, 0u64), |(idle, reused), h| {
        (idle + u64::from(h.idle), reused + h.reused)
    });
    detail(&format!(
        "backend connections: {idle} idle, {reused} reused"
    ))
}

/// What a dns relay dropped, summed over the relay processes; nothing for
/// other relays.
pub fn dns_drops(stats: &[Statistics]) -> String {
    let mut reported = stats.iter().filter_map(|s| s.dns).peekable();
    if reported.peek().is_none() {
        return String::new();
    }
    let sum = reported.fold(DnsDrops::default(), |sum, d| DnsDrops {
        malformed: sum.malformed + d.malformed,
        unknown_id: sum.unknown_id + d.unknown_id,
        wrong_source: sum.wrong_source + d.wrong_source,
        evicted: sum.evicted + d.evicted,
        no_backend: sum.no_backend + d.no_backend,
        no_destination: sum.no_destination + d.no_destination,
        timeouts: sum.timeouts + d.timeouts,
    });
    detail(&format!(
        "dropped: {} malformed, {} unknown id, {} wrong source, {} table full, \
         {} no backend, {} no destination, {} timeout",
        sum.malformed,
        sum.unknown_id,
        sum.wrong_source,
        sum.evicted,
        sum.no_backend,
        sum.no_destination,
        sum.timeouts
    ))
}

pub fn router(view: View, router: &RouterRow) -> String {
    if !matches!(view, View::Summary | View::Routers) {
        return String::new();
    }
    let mut out = row(
        &router.id.to_string(),
        "router",
        &router.name,
        "",
        active_or_disabled(router.disabled),
    );
    if view == View::Routers {
        if let Some(rtable) = router.rtable.filter(|&t| t != 0) {
            out += &detail(&format!("rtable: {rtable}"));
        }
        if let Some(label) = router.rtlabel.as_deref().filter(|l| !l.is_empty()) {
            out += &detail(&format!("rtlabel: {label}"));
        }
        if !router.disabled {
            for route in &router.routes {
                out += &detail(&format!("route: {}/{}", route.addr, route.len));
            }
        }
    }
    out
}

/// The sum over all relay processes; nothing before the first session.
pub fn statistics(stats: &[Statistics]) -> String {
    let Some(first) = stats.first() else {
        return String::new();
    };
    let mut sum = Statistics {
        interval_secs: first.interval_secs,
        ..Statistics::default()
    };
    for s in stats {
        sum.count += s.count;
        sum.last = sum.last.saturating_add(s.last);
        sum.avg = sum.avg.saturating_add(s.avg);
        sum.last_hour = sum.last_hour.saturating_add(s.last_hour);
        sum.avg_hour = sum.avg_hour.saturating_add(s.avg_hour);
        sum.last_day = sum.last_day.saturating_add(s.last_day);
        sum.avg_day = sum.avg_day.saturating_add(s.avg_day);
    }
    if sum.count == 0 {
        return String::new();
    }
    detail(&format!("total: {} sessions", sum.count))
        + &detail(&format!(
            "last: {}/{}s {}/h {}/d sessions",
            sum.last, sum.interval_secs, sum.last_hour, sum.last_day
        ))
        + &detail(&format!(
            "average: {}/{}s {}/h {}/d sessions",
            sum.avg, sum.interval_secs, sum.avg_hour, sum.avg_day
        ))
}

/// `hh:mm:ss`, hours unbounded.
pub fn duration(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// An address as relayd prints it: numeric host, colon, port.
fn endpoint(addr: Option<&SocketAddr>) -> String {
    match addr {
        Some(addr) => format!("{}:{}", addr.ip(), addr.port()),
        None => ":0".into(),
    }
}

pub fn session(session: &SessionRow) -> String {
    let mut out = format!(
        "session {}:{} {} -> {}\t{}\n",
        session.process,
        session.id,
        endpoint(Some(&session.client)),
        endpoint(session.backend.as_ref()),
        if session.done { "DONE" } else { "RUNNING" }
    );
    let _ = write!(
        out,
        "\tage {}, idle {}, relay {}, pid {}",
        duration(session.age_secs),
        duration(session.idle_secs),
        session.relay_id,
        session.pid
    );
    if let Some(tag) = &session.tag {
        let _ = write!(out, ", tag {tag}");
    }
    out.push('\n');
    out
}

/// `ctime(3)` of `now` in local time, with its trailing newline.
pub fn ctime(now: i64) -> String {
    let mut buf = [0 as libc::c_char; 64];
    let time = now as libc::time_t;
    // SAFETY: ctime_r writes at most 26 bytes into a buffer of 64 and
    // returns either NULL or a pointer to that NUL-terminated buffer.
    let text = unsafe {
        if libc::ctime_r(&time, buf.as_mut_ptr()).is_null() {
            return "?\n".into();
        }
        std::ffi::CStr::from_ptr(buf.as_ptr())
    };
    text.to_string_lossy().into_owned()
}

/// One `monitor` event: a line naming it with its frame header, a
/// timestamp, then its contents.
pub fn monitor_event(header: &Header, event: &MonitorEvent, now: i64) -> String {
    let mut out = format!(
        "{}: imsg type {} len {} peerid {} pid {}\n",
        event.name(),
        relayd_proto::message_kind(event).index,
        header.len,
        header.peer_id,
        header.pid
    );
    let _ = write!(out, "\ttimestamp: {now}, {}", ctime(now));
    let id_name = |out: &mut String, id: &IdName| {
        let _ = writeln!(out, "\tid: {}", id.id);
        if !id.name.is_empty() {
            let _ = writeln!(out, "\tname: {}", id.name);
        }
    };
    match event {
        MonitorEvent::HostStatus(status) => {
            let _ = writeln!(out, "\tid: {}", status.host_id);
            let _ = writeln!(out, "\tstate: {}", status.state.as_str());
        }
        MonitorEvent::RedirectDisabled(id)
        | MonitorEvent::RedirectEnabled(id)
        | MonitorEvent::TableDisabled(id)
        | MonitorEvent::TableEnabled(id)
        | MonitorEvent::HostDisabled(id)
        | MonitorEvent::HostEnabled(id)
        | MonitorEvent::RouterDisabled(id)
        | MonitorEvent::RouterEnabled(id)
        | MonitorEvent::TableChanged(id) => id_name(&mut out, id),
        MonitorEvent::Sync => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_config::Prefix;
    use relayd_proto::status::{HttpReuse, RedirectState};

    fn stats(count: u64, last: u32) -> Statistics {
        Statistics {
            id: 1,
            process: 0,
            interval_secs: 60,
            count,
            last,
            avg: 2,
            last_hour: 100,
            avg_hour: 90,
            last_day: 2000,
            avg_day: 1800,
            dns: None,
            http: None,
            http_answers: None,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    fn host_row(state: HostState, checks: u64, up: u64) -> HostRow {
        HostRow {
            name: "10.0.0.2".into(),
            parent_id: None,
            disabled: false,
            status: HostStatus {
                host_id: 2,
                table_id: 1,
                state,
                check_count: checks,
                up_count: up,
                retry_count: 0,
                last_error: HostError::TcpConnectTimeout,
                last_check_micros: None,
            },
        }
    }

    #[test]
    fn header_and_rows_line_up_like_relayctl() {
        assert_eq!(
            summary_header(),
            "Id  \tType    \tName                    \tAvlblty\tStatus\n"
        );
        let table = TableRow {
            id: 1,
            name: "web:80".into(),
            disabled: false,
            up_hosts: 2,
        };
        assert_eq!(
            super::table(View::Summary, &table),
            "1   \ttable   \tweb:80                  \t       \tactive (2 hosts)\n"
        );
        let empty = TableRow {
            up_hosts: 0,
            ..table.clone()
        };
        assert!(super::table(View::Hosts, &empty).ends_with("\tempty\n"));
        let disabled = TableRow {
            disabled: true,
            ..table.clone()
        };
        assert!(super::table(View::Hosts, &disabled).ends_with("\tdisabled\n"));
        assert_eq!(super::table(View::Relays, &table), "");
    }

    #[test]
    fn host_rows_show_availability_parent_and_details() {
        let up = host_row(HostState::Up, 3, 2);
        assert_eq!(
            host(View::Summary, &up),
            "2   \thost    \t10.0.0.2                \t66.67% \tup\n"
        );
        assert_eq!(
            host(View::Hosts, &up),
            "2   \thost    \t10.0.0.2                \t66.67% \tup\n\
             \t        \ttotal: 2/3 checks\n"
        );
        let mut down = host_row(HostState::Down, 4, 0);
        down.status.retry_count = 1;
        down.parent_id = Some(1);
        assert_eq!(
            host(View::Hosts, &down),
            "2   \thost    \t10.0.0.2 parent 1       \t0.00%  \tdown\n\
             \t        \ttotal: 0/4 checks, 1 retries, error: tcp connect timeout\n"
        );
        let unchecked = host_row(HostState::Unknown, 0, 0);
        assert_eq!(
            host(View::Hosts, &unchecked),
            "2   \thost    \t10.0.0.2                \t       \tunknown\n"
        );
        let mut disabled = host_row(HostState::Up, 1, 1);
        disabled.disabled = true;
        assert!(host(View::Summary, &disabled).ends_with("\tdisabled\n"));
        assert_eq!(host(View::Redirects, &up), "");
    }

    #[test]
    fn redirects_show_statistics_only_in_their_view() {
        let redirect = RedirectRow {
            id: 3,
            name: "www".into(),
            state: RedirectState::ActiveBackup,
            stats: Some(stats(10, 1)),
        };
        assert_eq!(
            super::redirect(View::Summary, &redirect),
            "3   \tredirect\twww                     \t       \tactive (using backup table)\n"
        );
        assert_eq!(
            super::redirect(View::Redirects, &redirect),
            "3   \tredirect\twww                     \t       \tactive (using backup table)\n\
             \t        \ttotal: 10 sessions\n\
             \t        \tlast: 1/60s 100/h 2000/d sessions\n\
             \t        \taverage: 2/60s 90/h 1800/d sessions\n"
        );
        assert_eq!(super::redirect(View::Hosts, &redirect), "");
    }

    #[test]
    fn relay_statistics_are_summed_over_processes() {
        let relay = RelayRow {
            id: 1,
            name: "proxy".into(),
            disabled: false,
            stats: vec![stats(5, 1), stats(7, 3)],
        };
        let text = super::relay(View::Relays, &relay);
        assert!(text.starts_with("1   \trelay   \tproxy"));
        assert!(text.contains("\ttotal: 12 sessions\n"), "{text}");
        assert!(
            text.contains("\tlast: 4/60s 200/h 4000/d sessions\n"),
            "{text}"
        );
        assert!(
            text.contains("\taverage: 4/60s 180/h 3600/d sessions\n"),
            "{text}"
        );
        let idle = RelayRow {
            stats: vec![stats(0, 0)],
            ..relay.clone()
        };
        assert_eq!(super::relay(View::Relays, &idle).lines().count(), 1);
        let mut dns = relay.clone();
        for (process, stats) in dns.stats.iter_mut().enumerate() {
            stats.dns = Some(DnsDrops {
                malformed: 1,
                unknown_id: 2,
                evicted: process as u64,
                no_destination: 3,
                timeouts: 4,
                ..DnsDrops::default()
            });
        }
        let text = super::relay(View::Relays, &dns);
        assert!(
            text.contains(
                "\tdropped: 2 malformed, 4 unknown id, 0 wrong source, 1 table full, \
                 0 no backend, 6 no destination, 8 timeout\n"
            ),
            "{text}"
        );
        assert!(!super::relay(View::Relays, &relay).contains("dropped"));
        let mut http = relay.clone();
        for (process, stats) in http.stats.iter_mut().enumerate() {
            stats.http = Some(HttpReuse {
                idle: 2,
                reused: 10 + process as u64,
            });
        }
        let text = super::relay(View::Relays, &http);
        assert!(
            text.contains("\tbackend connections: 4 idle, 21 reused\n"),
            "{text}"
        );
        assert!(!super::relay(View::Relays, &relay).contains("backend connections"));
        let disabled = RelayRow {
            disabled: true,
            ..relay
        };
        assert!(super::relay(View::Summary, &disabled).ends_with("\tdisabled\n"));
    }

    #[test]
    fn routers_show_table_label_and_routes_in_their_view() {
        let router = RouterRow {
            id: 1,
            name: "uplinks".into(),
            disabled: false,
            rtable: Some(2),
            rtlabel: Some("isp".into()),
            routes: vec![Prefix {
                addr: "0.0.0.0".parse().unwrap(),
                len: 0,
            }],
        };
        assert_eq!(super::router(View::Summary, &router).lines().count(), 1);
        assert_eq!(
            super::router(View::Routers, &router),
            "1   \trouter  \tuplinks                 \t       \tactive\n\
             \t        \trtable: 2\n\
             \t        \trtlabel: isp\n\
             \t        \troute: 0.0.0.0/0\n"
        );
    }

    #[test]
    fn sessions_print_endpoints_age_and_idle_time() {
        let row = SessionRow {
            process: 1,
            id: 42,
            relay_id: 3,
            client: "127.0.0.1:50000".parse().unwrap(),
            backend: Some("[::1]:8080".parse().unwrap()),
            done: false,
            age_secs: 3661,
            idle_secs: 59,
            pid: 999,
            tag: None,
        };
        assert_eq!(
            session(&row),
            "session 1:42 127.0.0.1:50000 -> ::1:8080\tRUNNING\n\
             \tage 01:01:01, idle 00:00:59, relay 3, pid 999\n"
        );
        let done = SessionRow {
            done: true,
            backend: None,
            tag: Some("WEB".into()),
            ..row
        };
        assert_eq!(
            session(&done),
            "session 1:42 127.0.0.1:50000 -> :0\tDONE\n\
             \tage 01:01:01, idle 00:00:59, relay 3, pid 999, tag WEB\n"
        );
        assert_eq!(duration(100 * 3600), "100:00:00");
    }

    #[test]
    fn monitor_events_name_themselves_and_their_object() {
        let header = Header {
            kind: 9,
            len: 40,
            flags: 0,
            peer_id: 0,
            pid: 77,
        };
        let event = MonitorEvent::HostStatus(HostStatus {
            host_id: 5,
            state: HostState::Down,
            ..HostStatus::default()
        });
        let text = monitor_event(&header, &event, 1_700_000_000);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "host_status: imsg type 0 len 40 peerid 0 pid 77");
        assert!(lines[1].starts_with("\ttimestamp: 1700000000, "), "{text}");
        assert!(lines[1].contains("2023"), "{text}");
        assert_eq!(&lines[2..], ["\tid: 5", "\tstate: down"]);

        let event = MonitorEvent::TableDisabled(IdName {
            id: 2,
            name: "web".into(),
        });
        let text = monitor_event(&header, &event, 0);
        assert!(
            text.starts_with("ctl_table_disable: imsg type 3 "),
            "{text}"
        );
        assert!(text.ends_with("\tid: 2\n\tname: web\n"), "{text}");
        let text = monitor_event(&header, &MonitorEvent::Sync, 0);
        assert_eq!(text.lines().count(), 2);
    }
}
