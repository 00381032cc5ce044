use super::*;
use relayd_agentx::SearchRange;
use relayd_proto::messages::agentx::{MibHost, MibTable};
use relayd_proto::status::{HostError, HostRow, HostStatus, RelayRow, TableRow};

fn oid(s: &[u32]) -> Oid {
    Oid::from_slice(s).unwrap()
}

fn info(rest: &[u32]) -> Oid {
    let mut subids = RELAYD_INFO.to_vec();
    subids.extend_from_slice(rest);
    oid(&subids)
}

fn view() -> MibView {
    let host = |id: u32, state| MibHost {
        row: HostRow {
            name: format!("10.0.0.{id}"),
            parent_id: None,
            disabled: false,
            status: HostStatus {
                host_id: id,
                table_id: 1,
                state,
                check_count: 4,
                up_count: 3,
                last_error: match state {
                    HostState::Up => HostError::TcpConnectOk,
                    _ => HostError::TcpConnectFail,
                },
                ..HostStatus::default()
            },
        },
        addr: IpAddr::from([10, 0, 0, id as u8]),
    };
    MibView {
        relays: vec![RelayRow {
            id: 1,
            name: "www".into(),
            disabled: false,
            stats: vec![
                Statistics {
                    count: 2,
                    avg: 1,
                    ..Statistics::default()
                },
                Statistics {
                    count: 3,
                    avg: 1,
                    ..Statistics::default()
                },
            ],
        }],
        hosts: vec![host(1, HostState::Up), host(2, HostState::Down)],
        tables: vec![MibTable {
            row: TableRow {
                id: 1,
                name: "web".into(),
                disabled: false,
                up_hosts: 1,
            },
            hosts: 2,
        }],
        ..MibView::default()
    }
}

fn request(kind: RequestKind, ranges: Vec<SearchRange>) -> Request {
    Request {
        kind,
        context: None,
        ranges,
    }
}

fn from(start: Oid, include: bool) -> SearchRange {
    SearchRange {
        start,
        include,
        end: Oid::default(),
    }
}

#[test]
fn get_finds_instances_and_tells_missing_ones_apart() {
    let mib = Mib::new(&view());
    let answer = mib
        .answer(&request(
            RequestKind::Get,
            vec![
                from(info(&[5, 1, 4, 2]), false),
                from(info(&[5, 1, 4, 9]), false),
                from(info(&[9]), false),
            ],
        ))
        .unwrap();
    assert_eq!(answer[0].value, Value::OctetString(b"10.0.0.2".to_vec()));
    assert_eq!(answer[1].value, Value::NoSuchInstance);
    assert_eq!(answer[2].value, Value::NoSuchObject);
}

#[test]
fn relays_sum_their_processes_and_hosts_say_their_state() {
    let mib = Mib::new(&view());
    let get = |name: Oid| mib.get(&name).value;
    assert_eq!(get(info(&[2, 1, 4, 1])), Value::Counter64(5));
    assert_eq!(get(info(&[2, 1, 5, 1])), Value::Gauge32(2));
    assert_eq!(get(info(&[5, 1, 7, 1])), Value::Integer(0));
    assert_eq!(get(info(&[5, 1, 7, 2])), Value::Integer(2));
    // relaydHostErrno: HCE_TCP_CONNECT_OK (11), HCE_TCP_CONNECT_FAIL (9).
    assert_eq!(get(info(&[5, 1, 10, 1])), Value::Integer(11));
    assert_eq!(get(info(&[5, 1, 10, 2])), Value::Integer(9));
    assert_eq!(
        get(info(&[5, 1, 5, 1])),
        Value::OctetString(vec![10, 0, 0, 1])
    );
    assert_eq!(get(info(&[7, 1, 3, 1])), Value::Integer(0));
}

#[test]
fn a_walk_visits_every_variable_in_order_and_ends() {
    let mib = Mib::new(&view());
    let mut at = oid(&RELAYD_MIB);
    let mut seen = Vec::new();
    loop {
        let answer = mib
            .answer(&request(
                RequestKind::GetNext,
                vec![from(at.clone(), false)],
            ))
            .unwrap();
        let vb = answer.into_iter().next().unwrap();
        if vb.value == Value::EndOfMibView {
            assert_eq!(vb.name, at);
            break;
        }
        assert!(vb.name > at, "{} after {}", vb.name, at);
        at = vb.name.clone();
        seen.push(vb.name);
    }
    assert_eq!(seen.len(), mib.len());
    // The columns of a table come one after another, each over all rows.
    assert_eq!(seen[0], info(&[2, 1, 1, 1]));
    let first_host = seen
        .iter()
        .position(|n| n.starts_with(&info(&[5])))
        .unwrap();
    assert_eq!(seen[first_host + 1], info(&[5, 1, 1, 2]));
}

#[test]
fn get_next_honours_include_and_the_end_of_the_range() {
    let mib = Mib::new(&view());
    let exact = info(&[5, 1, 4, 1]);
    let answer = mib
        .answer(&request(
            RequestKind::GetNext,
            vec![from(exact.clone(), true)],
        ))
        .unwrap();
    assert_eq!(answer[0].name, exact);
    let bounded = SearchRange {
        start: info(&[5, 1, 4, 2]),
        include: false,
        end: info(&[5, 1, 5]),
    };
    let answer = mib
        .answer(&request(RequestKind::GetNext, vec![bounded]))
        .unwrap();
    assert_eq!(answer[0].value, Value::EndOfMibView);
}

#[test]
fn get_bulk_repeats_until_the_end_of_the_mib() {
    let mib = Mib::new(&view());
    let kind = RequestKind::GetBulk {
        non_repeaters: 1,
        max_repetitions: 1000,
    };
    let answer = mib
        .answer(&request(
            kind,
            vec![from(info(&[7]), false), from(oid(&RELAYD_MIB), false)],
        ))
        .unwrap();
    assert_eq!(answer[0].name, info(&[7, 1, 1, 1]));
    // Every variable once, then one endOfMibView.
    assert_eq!(answer.len(), 1 + mib.len() + 1);
    assert_eq!(answer.last().map(|v| &v.value), Some(&Value::EndOfMibView));
}
