//! The typed outward contract: every JSON document netvrrp shows outward, as structs.
//!
//! `show vrrp`, `show vrrs`, `show track` and `subscribe` are read by scripts, the Ansible
//! collection and monitoring, so their shapes are types here (and in [`crate::vrrs::show`]
//! for the VRRS rows, which carry VRRS's own evaluation types), never `json!` built in
//! place. Each document carries [`SCHEMA`]: a consumer checks it and a change that removes or
//! renames a field raises it; adding a field does not. The fields are documented in
//! netvrrp(8), JSON OUTPUT (`tests/docs.rs` checks the page against these structs).
//!
//! This module sits low in the layering (value types, the protocol core's `State` and
//! counters, config kinds): VRRS, tracking and the runtime all build these values.

mod events;
#[cfg(test)]
pub(crate) mod samples;
mod track;
mod vrrp;

pub use events::{ClientNotice, InstanceRef, StateEvent, StreamEvent, StreamLine};
pub use track::{TrackContribution, TrackRow, TrackState, hidden_path};
pub use vrrp::{RaRow, VrrpRow};

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

/// The version of every JSON document netvrrp prints or answers (show, subscribe, diff,
/// check, apply, running): raised when a key changes meaning or goes away, not when one is
/// added.
pub const SCHEMA: u32 = 1;

/// What a `control-read-group` member sees in place of an exec program's argv, a path, or
/// a text that may name either (the `running` request, which shows them, is root and
/// control-group only; netvrrp(8), CONTROL SOCKET ACCESS).
pub const HIDDEN: &str = "(hidden: control-read-group)";

/// Which list a `show … --json` document holds, and the key it sits under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// `show vrrp`: [`VrrpRow`]s.
    Routers,
    /// `show vrrs server`: [`crate::vrrs::show::ServerRow`]s.
    Servers,
    /// `show vrrs pathway`: [`crate::vrrs::show::PathwayRow`]s.
    Pathways,
    /// `show vrrs client`: [`crate::vrrs::show::ClientRow`]s.
    Clients,
    /// `show track`: [`TrackRow`]s.
    Tracks,
}

impl Listing {
    /// Every listing, for the documentation check.
    pub const ALL: [Listing; 5] = [
        Listing::Routers,
        Listing::Servers,
        Listing::Pathways,
        Listing::Clients,
        Listing::Tracks,
    ];

    /// The key the rows sit under, next to `schema`.
    pub fn key(self) -> &'static str {
        match self {
            Listing::Routers => "routers",
            Listing::Servers => "servers",
            Listing::Pathways => "pathways",
            Listing::Clients => "clients",
            Listing::Tracks => "tracks",
        }
    }

    /// The document `{"schema": 1, KEY: rows}` (schema first, whatever the map order).
    pub fn of<T: Serialize>(self, rows: T) -> Listed<T> {
        Listed {
            listing: self,
            rows,
        }
    }
}

/// A `show … --json` document: `schema`, then the rows under [`Listing::key`].
#[derive(Debug)]
pub struct Listed<T> {
    listing: Listing,
    rows: T,
}

impl<T: Serialize> Serialize for Listed<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("schema", &SCHEMA)?;
        map.serialize_entry(self.listing.key(), &self.rows)?;
        map.end()
    }
}

/// The rows of a `show` document: a runtime replies with the bare list (the CLI adds the
/// envelope), but the envelope is taken too, so either end may be the newer one.
pub fn rows_of(data: serde_json::Value, listing: Listing) -> Vec<serde_json::Value> {
    match data {
        serde_json::Value::Array(rows) => rows,
        serde_json::Value::Object(mut doc) => match doc.remove(listing.key()) {
            Some(serde_json::Value::Array(rows)) => rows,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The rows of a `show` reply as the contract's structs, for the text renderers. A row this
/// build cannot read (a required field missing, a value it does not know such as a new
/// state) is an error naming the listing, the row and the field.
pub fn typed_rows<T: DeserializeOwned>(
    rows: Vec<serde_json::Value>,
    listing: Listing,
) -> anyhow::Result<Vec<T>> {
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            T::deserialize(row).map_err(|e| {
                anyhow::anyhow!(
                    "the runtime's {} row {} cannot be read by this netvrrp: {e}",
                    listing.key(),
                    i + 1
                )
            })
        })
        .collect()
}

/// `deserialize_with` for a struct of counters whose fields all have a default but which
/// cannot carry `#[serde(default)]` itself (the protocol core's `Counters`): the fields a
/// runtime did not send read as their default, so a CLI newer than the runtime still reads
/// its rows.
pub fn missing_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Serialize + DeserializeOwned,
{
    use serde::de::Error;
    let sent = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
    let mut all = match serde_json::to_value(T::default()) {
        Ok(serde_json::Value::Object(defaults)) => defaults,
        _ => serde_json::Map::new(),
    };
    all.extend(sent);
    T::deserialize(serde_json::Value::Object(all)).map_err(D::Error::custom)
}

/// Rows as they reach the CLI: serialized by the runtime, sent as text, parsed as JSON (what
/// `--json` prints from) and read back as the contract's structs (what the text renderers
/// take).
#[cfg(test)]
pub(crate) fn over_the_wire<T: Serialize + DeserializeOwned>(
    rows: &[T],
    listing: Listing,
) -> (Vec<serde_json::Value>, Vec<T>) {
    let text = serde_json::to_string(rows).unwrap();
    let values = rows_of(serde_json::from_str(&text).unwrap(), listing);
    let typed = typed_rows(values.clone(), listing).unwrap();
    (values, typed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let rows = samples::vrrp_rows();
        assert!(rows.iter().any(|r| r.router_advertisements.is_some()));
        assert_eq!(over_the_wire(&rows, Listing::Routers).1, rows);
        let rows = samples::track_rows();
        assert_eq!(over_the_wire(&rows, Listing::Tracks).1, rows);
        for r in samples::vrrp_rows() {
            for t in &r.track {
                let text = serde_json::to_string(t).unwrap();
                assert_eq!(
                    &serde_json::from_str::<TrackContribution>(&text).unwrap(),
                    t
                );
            }
        }
    }

    #[test]
    fn a_row_of_an_older_runtime_reads_with_defaults() {
        // Only the required fields: whatever was added since reads as empty.
        let row = serde_json::json!({"interface": "eth0", "vrid": 5, "family": "ipv4",
            "state": "backup", "vmac": "00:00:5e:00:01:05",
            "counters": {"adverts_sent": 4},
            "router_advertisements": {"state": "silent", "source": "fe80::1"},
            "track": [{"object": "web", "state": "down"}]});
        let r: VrrpRow = serde_json::from_value(row).unwrap();
        assert_eq!(
            (r.vrid, r.state, r.name.clone()),
            (5, crate::vrrp::router::State::Backup, None)
        );
        assert_eq!(r.counters.adverts_sent, 4);
        assert_eq!(r.counters.transitions, 0);
        assert!(r.vips.is_empty() && !r.shutdown && r.not_running.is_none());
        let ra = r.router_advertisements.unwrap();
        assert_eq!((ra.lifetime_s, ra.counters.sent), (0, 0));
        assert_eq!(r.track[0].state, TrackState::Down);
        let track: TrackRow = serde_json::from_value(serde_json::json!({"name": "web",
            "kind": "route", "state": "up",
            "config": {"kind": "route", "prefix": "0.0.0.0/0", "table": 254}}))
        .unwrap();
        assert_eq!((track.changes, track.exit_status), (0, None));
    }

    #[test]
    fn a_row_of_a_newer_runtime_reads_and_unreadable_rows_are_named() {
        let mut row = serde_json::to_value(&samples::vrrp_rows()[0]).unwrap();
        row["added_later"] = serde_json::json!({"x": 1});
        row["counters"]["added_later_errors"] = serde_json::json!(3);
        let r: VrrpRow = serde_json::from_value(row.clone()).unwrap();
        assert_eq!(r, samples::vrrp_rows()[0]);
        // A required field missing, a state this build does not know.
        let mut other = row.clone();
        other.as_object_mut().unwrap().remove("interface");
        row["state"] = serde_json::json!("standby");
        let e = typed_rows::<VrrpRow>(vec![other], Listing::Routers).unwrap_err();
        assert!(
            e.to_string().contains("routers row 1") && e.to_string().contains("interface"),
            "{e}"
        );
        let good = serde_json::to_value(&samples::vrrp_rows()[1]).unwrap();
        let e = typed_rows::<VrrpRow>(vec![good, row], Listing::Routers).unwrap_err();
        assert!(
            e.to_string().contains("routers row 2") && e.to_string().contains("standby"),
            "{e}"
        );
    }

    #[test]
    fn a_listing_puts_schema_first_and_the_rows_under_their_key() {
        let text = serde_json::to_string(&Listing::Routers.of(vec![1, 2])).unwrap();
        assert_eq!(text, r#"{"schema":1,"routers":[1,2]}"#);
        let text = serde_json::to_string(&Listing::Tracks.of(Vec::<u8>::new())).unwrap();
        assert_eq!(text, r#"{"schema":1,"tracks":[]}"#);
    }

    #[test]
    fn rows_are_read_from_a_bare_list_or_an_envelope() {
        let bare = serde_json::json!([{"vrid": 1}]);
        assert_eq!(rows_of(bare.clone(), Listing::Routers).len(), 1);
        let doc = serde_json::to_value(Listing::Routers.of(&bare)).unwrap();
        assert_eq!(
            rows_of(doc.clone(), Listing::Routers),
            rows_of(bare, Listing::Routers)
        );
        assert!(rows_of(doc, Listing::Servers).is_empty());
    }
}
