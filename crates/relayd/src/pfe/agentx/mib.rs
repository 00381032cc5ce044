//! OPENBSD-RELAYD-MIB over a view from the parent: every variable of
//! relaydInfo (enterprises.30155.3.2) put in OID order once per view, so
//! Get is a lookup and GetNext the first name after the start in the
//! ordered map (RFC 2741 7.2.3). Columns as relayd's agentx_control.c:
//! tables `relaydInfo.T.1.COLUMN.INDEX`, T = 1 redirects, 2 relays,
//! 3 routers, 4 netRoutes, 5 hosts, 6 sessions (indexed by relay and
//! session), 7 tables. relaydHostErrno is the last check's `HCE_*` code
//! (`HostError::code`), as relayd's `host->he`.

use relayd_agentx::{Oid, Request, RequestKind, SearchRange, Value, VarBind, MAX_PDU};
use relayd_proto::messages::agentx::MibView;
use relayd_proto::status::{HostState, RedirectState, Statistics};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// enterprises.30155.3: OPENBSD-RELAYD-MIB, the subtree registered.
pub const RELAYD_MIB: [u32; 8] = [1, 3, 6, 1, 4, 1, 30155, 3];
/// relaydInfo, the subtree served.
const RELAYD_INFO: [u32; 9] = [1, 3, 6, 1, 4, 1, 30155, 3, 2];
/// The number of columns of each table, relaydInfo.1 to .7.
const COLUMNS: [u32; 7] = [10, 10, 6, 5, 10, 12, 3];

/// Room kept in a response for its header and fields.
const RESPONSE_SLACK: usize = 64;

/// The variables of one view, in OID order.
pub struct Mib {
    variables: BTreeMap<Oid, Value>,
}

impl Mib {
    pub fn new(view: &MibView) -> Mib {
        let mut mib = Builder::default();
        for r in &view.redirects {
            let status = match r.state {
                RedirectState::Active => 0,
                RedirectState::Disabled => 1,
                RedirectState::Down => 2,
                RedirectState::ActiveBackup => 3,
            };
            let stats = r.stats.clone().unwrap_or_default();
            mib.counters(1, r.id, status, &r.name, &[stats]);
        }
        for r in &view.relays {
            mib.counters(2, r.id, u32::from(r.disabled), &r.name, &r.stats);
        }
        let mut route_id = 0u32;
        for router in &view.routers {
            let r = &router.row;
            let row = [r.id];
            mib.integer(3, 1, &row, i64::from(r.id));
            mib.integer(3, 2, &row, router.table_id.map_or(-1, i64::from));
            mib.integer(3, 3, &row, i64::from(r.disabled));
            mib.string(3, 4, &row, r.name.as_bytes());
            mib.string(3, 5, &row, r.rtlabel.as_deref().unwrap_or("").as_bytes());
            mib.integer(3, 6, &row, i64::from(r.rtable.unwrap_or(0)));
            for prefix in &r.routes {
                route_id += 1;
                let row = [route_id];
                mib.integer(4, 1, &row, i64::from(route_id));
                mib.address(4, 2, 3, &row, prefix.addr);
                mib.integer(4, 4, &row, i64::from(prefix.len));
                mib.integer(4, 5, &row, i64::from(r.id));
            }
        }
        for host in &view.hosts {
            let status = &host.row.status;
            let row = [status.host_id];
            mib.integer(5, 1, &row, i64::from(status.host_id));
            mib.integer(5, 2, &row, host.row.parent_id.map_or(0, i64::from));
            mib.integer(5, 3, &row, i64::from(status.table_id));
            mib.string(5, 4, &row, host.row.name.as_bytes());
            mib.address(5, 5, 6, &row, host.addr);
            let state = match (host.row.disabled, status.state) {
                (true, _) => 1,
                (false, HostState::Up) => 0,
                (false, HostState::Down) => 2,
                (false, HostState::Unknown) => 3,
            };
            mib.integer(5, 7, &row, state);
            mib.put(5, 8, &row, Value::Counter64(status.check_count));
            mib.put(5, 9, &row, Value::Counter64(status.up_count));
            mib.integer(5, 10, &row, i64::from(status.last_error.code()));
        }
        for s in &view.sessions {
            let row = [s.relay_id, s.id];
            mib.integer(6, 1, &row, i64::from(s.id));
            mib.integer(6, 2, &row, i64::from(s.relay_id));
            mib.socket(6, 3, 4, 7, &row, s.client);
            if let Some(backend) = s.backend {
                mib.socket(6, 5, 6, 8, &row, backend);
            }
            mib.put(6, 9, &row, ticks(s.age_secs));
            mib.put(6, 10, &row, ticks(s.idle_secs));
            mib.integer(6, 11, &row, i64::from(s.done));
            mib.integer(6, 12, &row, i64::from(s.pid));
        }
        for table in &view.tables {
            let t = &table.row;
            let row = [t.id];
            mib.integer(7, 1, &row, i64::from(t.id));
            mib.string(7, 2, &row, t.name.as_bytes());
            let status = if table.hosts == 0 {
                1
            } else if t.disabled {
                2
            } else {
                0
            };
            mib.integer(7, 3, &row, status);
        }
        Mib {
            variables: mib.variables,
        }
    }

    pub fn len(&self) -> usize {
        self.variables.len()
    }

    /// The answer to a Get, GetNext or GetBulk: one varbind per range
    /// (GetBulk: the non-repeaters once, then the repeaters round by round,
    /// as many rounds as fit), or `None` if it would not fit a PDU.
    pub fn answer(&self, request: &Request) -> Option<Vec<VarBind>> {
        let mut out = Vec::new();
        let mut size = 0;
        let mut push = |vb: VarBind, out: &mut Vec<VarBind>| {
            size += vb.encoded_len();
            out.push(vb);
            size + RESPONSE_SLACK <= MAX_PDU
        };
        match request.kind {
            RequestKind::Get => {
                for range in &request.ranges {
                    if !push(self.get(&range.start), &mut out) {
                        return None;
                    }
                }
            }
            RequestKind::GetNext => {
                for range in &request.ranges {
                    if !push(self.next(range), &mut out) {
                        return None;
                    }
                }
            }
            RequestKind::GetBulk {
                non_repeaters,
                max_repetitions,
            } => {
                let n = usize::from(non_repeaters).min(request.ranges.len());
                for range in &request.ranges[..n] {
                    if !push(self.next(range), &mut out) {
                        return None;
                    }
                }
                let mut repeaters: Vec<SearchRange> = request.ranges[n..].to_vec();
                for _ in 0..max_repetitions {
                    if repeaters.is_empty() {
                        break;
                    }
                    let round_start = out.len();
                    let mut at_end = true;
                    for range in &mut repeaters {
                        let vb = self.next(range);
                        at_end &= vb.value == Value::EndOfMibView;
                        range.start = vb.name.clone();
                        range.include = false;
                        if !push(vb, &mut out) {
                            // The rounds that fit are the answer (RFC 3416 4.2.3).
                            out.truncate(round_start);
                            return (round_start > 0).then_some(out);
                        }
                    }
                    if at_end {
                        break;
                    }
                }
            }
        }
        Some(out)
    }

    fn get(&self, name: &Oid) -> VarBind {
        let value = match self.variables.get(name) {
            Some(value) => value.clone(),
            None if is_column(name) => Value::NoSuchInstance,
            None => Value::NoSuchObject,
        };
        VarBind {
            name: name.clone(),
            value,
        }
    }

    fn next(&self, range: &SearchRange) -> VarBind {
        use std::ops::Bound;
        let lower = if range.include {
            Bound::Included(&range.start)
        } else {
            Bound::Excluded(&range.start)
        };
        let found = self
            .variables
            .range::<Oid, _>((lower, Bound::Unbounded))
            .next()
            .filter(|(name, _)| range.end.is_null() || **name < range.end);
        match found {
            Some((name, value)) => VarBind {
                name: name.clone(),
                value: value.clone(),
            },
            None => VarBind {
                name: range.start.clone(),
                value: Value::EndOfMibView,
            },
        }
    }
}

/// Whether `name` is an instance under one of relaydInfo's columns.
fn is_column(name: &Oid) -> bool {
    let subids = name.subids();
    let Some(rest) = subids.strip_prefix(&RELAYD_INFO[..]) else {
        return false;
    };
    match rest {
        [table, 1, column, _, ..] => {
            let columns = usize::try_from(*table)
                .ok()
                .and_then(|t| t.checked_sub(1))
                .and_then(|t| COLUMNS.get(t));
            columns.is_some_and(|&n| (1..=n).contains(column))
        }
        _ => false,
    }
}

fn ticks(secs: u64) -> Value {
    Value::TimeTicks(u32::try_from(secs.saturating_mul(100)).unwrap_or(u32::MAX))
}

#[derive(Default)]
struct Builder {
    variables: BTreeMap<Oid, Value>,
}

impl Builder {
    /// relaydInfo.TABLE.1.COLUMN.ROW; rows whose index is beyond the
    /// MIB's Integer32 range are left out, as relayd does.
    fn put(&mut self, table: u32, column: u32, row: &[u32], value: Value) {
        if row.iter().any(|&i| i32::try_from(i).is_err()) {
            return;
        }
        let mut subids = RELAYD_INFO.to_vec();
        subids.extend_from_slice(&[table, 1, column]);
        subids.extend_from_slice(row);
        if let Ok(oid) = Oid::new(subids) {
            self.variables.insert(oid, value);
        }
    }

    fn integer(&mut self, table: u32, column: u32, row: &[u32], value: i64) {
        let value = i32::try_from(value).unwrap_or(-1);
        self.put(table, column, row, Value::Integer(value));
    }

    fn string(&mut self, table: u32, column: u32, row: &[u32], value: &[u8]) {
        self.put(table, column, row, Value::OctetString(value.to_vec()));
    }

    /// An address (its bytes) and its type (1 IPv4, 2 IPv6).
    fn address(&mut self, table: u32, column: u32, type_column: u32, row: &[u32], addr: IpAddr) {
        let (bytes, kind) = match addr {
            IpAddr::V4(a) => (a.octets().to_vec(), 1),
            IpAddr::V6(a) => (a.octets().to_vec(), 2),
        };
        self.string(table, column, row, &bytes);
        self.integer(table, type_column, row, kind);
    }

    fn socket(
        &mut self,
        table: u32,
        column: u32,
        type_column: u32,
        port_column: u32,
        row: &[u32],
        addr: SocketAddr,
    ) {
        self.address(table, column, type_column, row, addr.ip());
        self.integer(table, port_column, row, i64::from(addr.port()));
    }

    /// The ten columns redirects and relays share: index, status, name,
    /// then the counters summed over the relay processes.
    fn counters(&mut self, table: u32, id: u32, status: u32, name: &str, stats: &[Statistics]) {
        let row = &[id];
        let sum = |f: fn(&Statistics) -> u32| -> u32 {
            stats.iter().fold(0u32, |acc, s| acc.saturating_add(f(s)))
        };
        self.integer(table, 1, row, i64::from(id));
        self.integer(table, 2, row, i64::from(status));
        self.string(table, 3, row, name.as_bytes());
        let count = stats
            .iter()
            .fold(0u64, |acc, s| acc.saturating_add(s.count));
        self.put(table, 4, row, Value::Counter64(count));
        let gauges: [fn(&Statistics) -> u32; 6] = [
            |s| s.avg,
            |s| s.last,
            |s| s.avg_hour,
            |s| s.last_hour,
            |s| s.avg_day,
            |s| s.last_day,
        ];
        for (column, gauge) in (5..).zip(gauges) {
            self.put(table, column, row, Value::Gauge32(sum(gauge)));
        }
    }
}

#[cfg(test)]
mod tests;
