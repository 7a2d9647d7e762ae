//! State changes as the outside sees them: one [`StateEvent`] per VRRP transition, carried
//! by the runtime's broadcast (VRRS, subscribe, heap trimming), handed to VRRS clients in a
//! [`ClientNotice`], and streamed by `subscribe` as a [`StreamLine`].

use crate::types::{Family, MacAddr};
use crate::vrrp::router::State;
use serde::Serialize;
use std::net::IpAddr;
use std::ops::Deref;

/// One VRRP instance's state change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateEvent {
    pub interface: String,
    pub vrid: u8,
    pub family: Family,
    /// The router's `name` (null without one).
    pub router: Option<String>,
    pub previous: State,
    pub state: State,
    pub reason: String,
    pub vmac: MacAddr,
    pub vips: Vec<IpAddr>,
    /// Seconds since the Unix epoch.
    pub time: f64,
}

/// A [`StateEvent`] delivered to one VRRS client under a leader name (also the body of an
/// accounting line). Reads as the event it carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientNotice {
    /// Index of the client in `Config::clients`.
    pub client: usize,
    /// 1, 2, 3… per client: a gap tells a consumer that notices were coalesced or dropped.
    pub seq: u64,
    /// The leader name.
    pub name: String,
    #[serde(flatten)]
    pub event: StateEvent,
}

impl Deref for ClientNotice {
    type Target = StateEvent;

    fn deref(&self) -> &StateEvent {
        &self.event
    }
}

/// One line of the `subscribe` stream: `schema`, then the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamLine {
    pub schema: u32,
    #[serde(flatten)]
    pub event: StreamEvent,
}

impl From<StreamEvent> for StreamLine {
    fn from(event: StreamEvent) -> StreamLine {
        StreamLine {
            schema: super::SCHEMA,
            event,
        }
    }
}

/// Which VRRP instance a router-name `current` line is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceRef {
    pub interface: String,
    pub vrid: u8,
    pub family: Family,
}

/// What a `subscribe` line says, tagged by `event`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum StreamEvent {
    /// A leader name's state when the stream starts.
    Current {
        name: String,
        state: State,
        previous: Option<State>,
        vmac: MacAddr,
        vips: Vec<IpAddr>,
        /// Set when `name` is a router's `name` (one line per instance), not a leader's.
        #[serde(flatten)]
        instance: Option<InstanceRef>,
    },
    /// A state change, for the leader `name` that follows the instance, or the router's own
    /// `name` (subscribing by router name, or without names for an instance no leader name
    /// follows; null when that router has no name either).
    Change {
        name: Option<String>,
        #[serde(flatten)]
        change: StateEvent,
    },
    /// A `[[track]]` object changed state.
    Track {
        name: String,
        kind: &'static str,
        /// "up" or "down".
        state: &'static str,
        result: String,
        time: f64,
    },
    /// The subscriber fell behind and `missed` events were dropped for it.
    Lagged { missed: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> StateEvent {
        StateEvent {
            interface: "eth0".into(),
            vrid: 7,
            family: Family::Ipv4,
            router: None,
            previous: State::Backup,
            state: State::Master,
            reason: "master down timer".into(),
            vmac: MacAddr([0, 0, 0x5e, 0, 1, 7]),
            vips: vec!["192.0.2.1".parse().unwrap()],
            time: 1.5,
        }
    }

    #[test]
    fn a_change_line_carries_schema_event_name_and_the_whole_state_event() {
        let line = StreamLine::from(StreamEvent::Change {
            name: Some("web".into()),
            change: event(),
        });
        assert_eq!(
            serde_json::to_value(&line).unwrap(),
            json!({
                "schema": 1, "event": "change", "name": "web",
                "interface": "eth0", "vrid": 7, "family": "ipv4", "router": null,
                "previous": "backup", "state": "master", "reason": "master down timer",
                "vmac": "00:00:5e:00:01:07", "vips": ["192.0.2.1"], "time": 1.5,
            })
        );
        let text = serde_json::to_string(&line).unwrap();
        assert!(
            text.starts_with(r#"{"schema":1,"event":"change""#),
            "{text}"
        );
    }

    #[test]
    fn other_lines_are_tagged_by_event() {
        let lagged = StreamLine::from(StreamEvent::Lagged { missed: 3 });
        assert_eq!(
            serde_json::to_value(&lagged).unwrap(),
            json!({"schema": 1, "event": "lagged", "missed": 3})
        );
        let track = StreamLine::from(StreamEvent::Track {
            name: "web".into(),
            kind: "exec",
            state: "down",
            result: "exit status 1".into(),
            time: 2.0,
        });
        assert_eq!(serde_json::to_value(&track).unwrap()["event"], "track");
    }

    #[test]
    fn a_notice_reads_as_its_event_and_serializes_flat() {
        let n = ClientNotice {
            client: 2,
            seq: 9,
            name: "web".into(),
            event: event(),
        };
        assert_eq!(n.state, State::Master);
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(
            (v["seq"].clone(), v["state"].clone()),
            (json!(9), json!("master"))
        );
    }
}
