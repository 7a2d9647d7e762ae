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
mod track;
mod vrrp;

pub use events::{ClientNotice, InstanceRef, StateEvent, StreamEvent, StreamLine};
pub use track::{TrackContribution, TrackRow};
pub use vrrp::{RaRow, VrrpRow};

use serde::Serialize;
use serde::ser::SerializeMap;

/// The version of every JSON document netvrrp prints or answers (show, subscribe, diff,
/// check, apply, running): raised when a key changes meaning or goes away, not when one is
/// added.
pub const SCHEMA: u32 = 1;

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

#[cfg(test)]
mod tests {
    use super::*;

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
