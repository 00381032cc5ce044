//! `-j` output: one JSON object per line for each row, result or event,
//! tagged with what it is (`"type"`, `"result"` or `"event"`).

use relayd_proto::control::{ControlReply, MonitorEvent};
use relayd_proto::status::HostStatus;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// `value`'s fields plus `key: tag`.
fn tagged<T: Serialize>(key: &str, tag: &str, value: &T) -> Value {
    let mut object = Map::new();
    object.insert(key.into(), Value::String(tag.into()));
    match serde_json::to_value(value) {
        Ok(Value::Object(fields)) => object.extend(fields),
        Ok(Value::Null) => {}
        Ok(other) => {
            object.insert("data".into(), other);
        }
        Err(e) => {
            object.insert("error".into(), Value::String(e.to_string()));
        }
    }
    Value::Object(object)
}

/// The last check's result as relayd's number (`HCE_*`, relaydHostErrno)
/// and words, next to the variant name serde gives `last_error`.
fn insert_errno(object: &mut Map<String, Value>, status: &HostStatus) {
    object.insert("errno".into(), json!(status.last_error.code()));
    object.insert("error".into(), json!(status.last_error.as_str()));
}

/// The JSON line for a reply, `None` for `End`.
pub fn reply(reply: &ControlReply, now: i64) -> Option<String> {
    let value = match reply {
        ControlReply::Redirect(row) => tagged("type", "redirect", row),
        ControlReply::Table(row) => tagged("type", "table", row),
        ControlReply::Host(row) => {
            let mut value = tagged("type", "host", row);
            if let Value::Object(object) = &mut value {
                if let Some(percent) = row.status.availability() {
                    object.insert("availability".into(), json!(percent));
                }
                insert_errno(object, &row.status);
            }
            value
        }
        ControlReply::Relay(row) => tagged("type", "relay", row),
        ControlReply::Router(row) => tagged("type", "router", row),
        ControlReply::Session(row) => tagged("type", "session", row),
        ControlReply::Ok => json!({ "result": "ok" }),
        ControlReply::Failed(why) => json!({ "result": "failed", "error": why }),
        // The Prometheus text is its own format: relayctl prints it as is.
        ControlReply::End | ControlReply::Hello { .. } | ControlReply::Metrics(_) => return None,
        ControlReply::Event(event) => event_value(event, now),
    };
    Some(value.to_string())
}

fn event_value(event: &MonitorEvent, now: i64) -> Value {
    let mut value = match event {
        MonitorEvent::HostStatus(status) => {
            let mut value = tagged("event", event.name(), status);
            if let Value::Object(object) = &mut value {
                insert_errno(object, status);
            }
            value
        }
        MonitorEvent::RedirectDisabled(id)
        | MonitorEvent::RedirectEnabled(id)
        | MonitorEvent::TableDisabled(id)
        | MonitorEvent::TableEnabled(id)
        | MonitorEvent::HostDisabled(id)
        | MonitorEvent::HostEnabled(id)
        | MonitorEvent::RouterDisabled(id)
        | MonitorEvent::RouterEnabled(id)
        | MonitorEvent::TableChanged(id) => tagged("event", event.name(), id),
        MonitorEvent::Sync => json!({ "event": event.name() }),
    };
    if let Value::Object(object) = &mut value {
        object.insert("timestamp".into(), json!(now));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_proto::control::IdName;
    use relayd_proto::status::{HostError, HostRow, HostState, TableRow};

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn rows_are_tagged_objects() {
        let table = ControlReply::Table(TableRow {
            id: 1,
            name: "web".into(),
            disabled: false,
            up_hosts: 2,
        });
        let value = parse(&reply(&table, 0).unwrap());
        assert_eq!(
            value,
            json!({"type": "table", "id": 1, "name": "web", "disabled": false, "up_hosts": 2})
        );

        let host = ControlReply::Host(HostRow {
            name: "10.0.0.1".into(),
            parent_id: None,
            disabled: false,
            status: HostStatus {
                host_id: 4,
                state: HostState::Up,
                check_count: 4,
                up_count: 3,
                last_error: HostError::TcpConnectOk,
                ..HostStatus::default()
            },
        });
        let value = parse(&reply(&host, 0).unwrap());
        assert_eq!(value["type"], "host");
        assert_eq!(value["status"]["state"], "Up");
        assert_eq!(value["availability"], 75.0);
        assert_eq!(value["status"]["last_error"], "TcpConnectOk");
        assert_eq!(value["errno"], 11);
        assert_eq!(value["error"], "tcp connect ok");
    }

    #[test]
    fn results_and_events() {
        assert_eq!(
            parse(&reply(&ControlReply::Ok, 0).unwrap()),
            json!({"result": "ok"})
        );
        assert_eq!(
            parse(&reply(&ControlReply::Failed("no such host".into()), 0).unwrap()),
            json!({"result": "failed", "error": "no such host"})
        );
        assert_eq!(reply(&ControlReply::End, 0), None);
        let event = ControlReply::Event(MonitorEvent::HostDisabled(IdName {
            id: 3,
            name: "h".into(),
        }));
        assert_eq!(
            parse(&reply(&event, 12).unwrap()),
            json!({"event": "ctl_host_disable", "id": 3, "name": "h", "timestamp": 12})
        );
        assert_eq!(
            parse(&reply(&ControlReply::Event(MonitorEvent::Sync), 5).unwrap()),
            json!({"event": "sync", "timestamp": 5})
        );
    }
}
