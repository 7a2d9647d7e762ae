//! `[[vrrs.pathway]]` and `[[vrrs.client]]` tables (and the `kind`-keyed tables they share
//! with `[[track]]`).

use super::*;

impl Checker<'_> {
    /// The `kind` of a table whose allowed keys depend on it (`[[vrrs.client]]`,
    /// `[[track]]`): report unknown keys and keys of another kind; None when `kind` is
    /// missing or unknown (then only keys unknown to every kind are reported).
    pub(super) fn kind_keys(
        &mut self,
        r: &Reader<'_>,
        common: &[&str],
        kinds: &[(&'static str, &[&str])],
        what: &str,
    ) -> Option<&'static str> {
        let kind = self.required(r, "kind").and_then(|e| {
            let s = self.string(&e)?;
            match kinds.iter().find(|(k, _)| *k == s) {
                Some((k, keys)) => Some((*k, *keys)),
                None => {
                    let names: Vec<String> =
                        kinds.iter().map(|(k, _)| format!("\"{k}\"")).collect();
                    let expected = match names.split_last() {
                        Some((last, rest)) if !rest.is_empty() => {
                            format!("{} or {last}", rest.join(", "))
                        }
                        _ => names.join(""),
                    };
                    self.error(
                        &e.span,
                        &e.path,
                        format!("unknown {what} kind `{s}` (expected {expected})"),
                    );
                    None
                }
            }
        });
        let all: Vec<&str> = common
            .iter()
            .chain(kinds.iter().flat_map(|(_, keys)| keys.iter()))
            .copied()
            .collect();
        let Some((kind, kind_keys)) = kind else {
            // Without a valid kind only unknown-everywhere keys can be reported.
            self.check_keys(r, &all, &[]);
            return None;
        };
        let allowed: Vec<&str> = common.iter().chain(kind_keys).copied().collect();
        let hint = format!("it does not apply to kind = \"{kind}\"");
        let elsewhere: Vec<(&str, &str)> = all
            .iter()
            .filter(|k| !allowed.contains(k))
            .map(|k| (*k, hint.as_str()))
            .collect();
        self.check_keys(r, &allowed, &elsewhere);
        Some(kind)
    }

    pub(super) fn pathway(&mut self, r: &Reader<'_>) -> PathwayRec {
        self.check_keys(r, PATHWAY_KEYS, &[]);
        let leader = self.required(r, "leader").and_then(|e| {
            let s = self.string(&e)?;
            self.leader_name(&e, s)
        });
        let interface = self.required_interface(r);
        let mut mac = None;
        if let Some(e) = r.entry("mac")
            && let Some(s) = self.string(&e)
        {
            match s.parse::<MacAddr>() {
                Ok(m) => match mac_problem(m) {
                    Some(problem) => self.error(&e.span, &e.path, format!("`{s}` {problem}")),
                    None => mac = Some(self.set(&e, m)),
                },
                Err(err) => self.error(&e.span, &e.path, err.to_string()),
            }
        }
        let mut address = Vec::new();
        let mut addresses = Vec::new();
        let mut written = 0usize;
        let mut address_key_error = false;
        if let Some(e) = r.entry("address") {
            match self.strings(&e) {
                Some(list) => {
                    written = list.len();
                    for (el, s) in list {
                        match parse_any(s) {
                            Ok(net) => {
                                addresses.push(self.set(&el, net.addr()));
                                address.push(net);
                            }
                            Err(m) => self.error(&el.span, &el.path, m),
                        }
                    }
                }
                None => address_key_error = true,
            }
        }
        // A vMAC without an address has nothing to answer ARP/ND for and nothing to
        // announce; without `mac` an empty list is a state-only pathway (shown, not acted on).
        if r.entry("mac").is_some() && written == 0 && !address_key_error {
            let path = r.child("address");
            self.error(
                &r.tbl.span(),
                &path,
                "a pathway with `mac` needs at least one address in `address`",
            );
        }
        let config = PathwayConfig {
            leader: leader.as_ref().map(|l| l.value.clone()).unwrap_or_default(),
            interface: interface
                .as_ref()
                .map(|i| i.value.clone())
                .unwrap_or_default(),
            mac: mac.as_ref().map(|m| m.value),
            address,
            location: self.at(&r.tbl.span()),
        };
        PathwayRec {
            config,
            path: r.path.clone(),
            leader,
            interface,
            mac,
            addresses,
        }
    }

    pub(super) fn client(&mut self, r: &Reader<'_>) -> ClientRec {
        let leader = self.required(r, "leader").and_then(|e| {
            let s = self.string(&e)?;
            self.leader_name(&e, s)
        });
        let Some(kind) = self.kind_keys(r, CLIENT_COMMON_KEYS, CLIENT_KINDS, "client") else {
            return ClientRec {
                config: None,
                leader,
                interface: None,
            };
        };

        let mut interface = None;
        let client_kind = match kind {
            "interface-state" => {
                interface = self.required_interface(r);
                interface.as_ref().map(|i| ClientKind::InterfaceState {
                    interface: i.value.clone(),
                })
            }
            "accounting" => self.required(r, "path").and_then(|e| {
                let s = self.string(&e)?;
                // The runtime may run with any working directory (systemd uses /), so a
                // relative path would be ambiguous.
                if !Path::new(s).is_absolute() {
                    self.error(
                        &e.span,
                        &e.path,
                        format!("accounting path `{s}` must be absolute"),
                    );
                    return None;
                }
                Some(ClientKind::Accounting {
                    path: PathBuf::from(s),
                })
            }),
            _ => {
                let command = self.hook_command(r, "[\"/usr/local/bin/notify\", \"arg\"]");
                let run_as = self.run_as(r);
                let timeout = match r.entry("timeout") {
                    Some(e) => self.int_as::<u32>(&e, EXEC_TIMEOUT_RANGE, "timeout"),
                    None => Some(DEFAULT_EXEC_TIMEOUT_MS),
                };
                match (command, timeout, run_as) {
                    (Some(command), Some(timeout_ms), Some(run_as)) => Some(ClientKind::Exec {
                        run_as,
                        command,
                        timeout_ms,
                    }),
                    _ => None,
                }
            }
        };
        let config = match (&leader, client_kind) {
            (Some(l), Some(kind)) => Some(ClientConfig {
                leader: l.value.clone(),
                kind,
                location: self.at(&r.tbl.span()),
            }),
            _ => None,
        };
        ClientRec {
            config,
            leader,
            interface,
        }
    }
}
