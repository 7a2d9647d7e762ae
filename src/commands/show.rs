//! `netvrrp show [vrrp [brief]|vrrs|track]`: ask the runtime, filter, and print text or the JSON
//! of the outward contract ([`crate::contract`]).

use super::*;

/// `show [vrrp|vrrs|track]`: ask the runtime, filter, render (`--json`: the rows as
/// received, under their key with `schema`, see [`crate::contract`]; text: the rows read back
/// into the contract's structs, [`crate::contract::typed_rows`]). `show` alone is `show vrrp
/// brief`.
pub fn show(run_dir: &Path, what: &Option<ShowCommand>) -> i32 {
    use crate::contract::{Listing, rows_of, typed_rows};
    use crate::daemon::control::{Request, request};
    let json_of = |listing: Listing, rows: &[serde_json::Value]| {
        serde_json::to_string_pretty(&listing.of(rows)).unwrap_or_default()
    };
    let overview = ShowCommand::Vrrp {
        interface: None,
        vrid: None,
        brief: true,
        json: false,
    };
    let result = match what.as_ref().unwrap_or(&overview) {
        ShowCommand::Vrrp {
            interface,
            vrid,
            brief,
            json,
        } => request(run_dir, &Request::ShowVrrp).and_then(|data| {
            let rows: Vec<serde_json::Value> = rows_of(data, Listing::Routers)
                .into_iter()
                .filter(|r| {
                    interface
                        .as_ref()
                        .is_none_or(|i| r["interface"].as_str() == Some(i))
                        && vrid.is_none_or(|v| r["vrid"].as_u64() == Some(u64::from(v)))
                })
                .collect();
            if *json {
                return Ok(json_of(Listing::Routers, &rows));
            }
            let rows = typed_rows(rows, Listing::Routers)?;
            // Ages and times of the last change are relative to this host's clock.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            Ok(if *brief {
                crate::daemon::render::vrrp_brief(&rows, now)
            } else {
                crate::daemon::render::vrrp_text(&rows, now)
            })
        }),
        ShowCommand::Vrrs { what, name, json } => {
            let (what_s, listing) = match what {
                VrrsWhat::Server => ("server", Listing::Servers),
                VrrsWhat::Pathway => ("pathway", Listing::Pathways),
                VrrsWhat::Client => ("client", Listing::Clients),
            };
            request(
                run_dir,
                &Request::ShowVrrs {
                    what: what_s.into(),
                },
            )
            .and_then(|data| {
                let rows: Vec<serde_json::Value> = rows_of(data, listing)
                    .into_iter()
                    .filter(|r| name.as_ref().is_none_or(|n| r["name"].as_str() == Some(n)))
                    .collect();
                Ok(if *json {
                    json_of(listing, &rows)
                } else {
                    match what {
                        VrrsWhat::Server => {
                            crate::vrrs::render_server_text(&typed_rows(rows, listing)?)
                        }
                        VrrsWhat::Pathway => {
                            crate::vrrs::render_pathway_text(&typed_rows(rows, listing)?)
                        }
                        VrrsWhat::Client => {
                            crate::vrrs::render_client_text(&typed_rows(rows, listing)?)
                        }
                    }
                })
            })
        }
        ShowCommand::Track { name, json } => {
            request(run_dir, &Request::ShowTrack { name: name.clone() }).and_then(|data| {
                let rows = rows_of(data, Listing::Tracks);
                if let Some(n) = name
                    && rows.is_empty()
                {
                    anyhow::bail!("no track object named {n:?}");
                }
                Ok(if *json {
                    json_of(Listing::Tracks, &rows)
                } else {
                    crate::track::show::text(&typed_rows(rows, Listing::Tracks)?)
                })
            })
        }
    };
    match result {
        Ok(text) => {
            println!("{text}");
            exit::OK
        }
        Err(e) => {
            crate::report!("{e:#}");
            exit::FAILURE
        }
    }
}
