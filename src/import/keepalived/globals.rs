//! keepalived `global_defs` → `[defaults]` (with a note on what changed in translation);
//! what has no equivalent is a comment and a warning.

use super::*;

impl Cx<'_> {
    pub(super) fn global_defs(&mut self, st: &Statement, imp: &mut Imported) {
        for c in st.children() {
            let kw = c.keyword();
            match kw {
                "vrrp_version" => {
                    if let Some(v) = self.arg(c).cloned().and_then(|w| self.int(&w, 2, 3)) {
                        self.version = v as u8;
                        imp.defaults.version = Some(self.version);
                        imp.defaults_notes.push((
                            "version",
                            format!("{}: global_defs vrrp_version {v}", c.loc()),
                        ));
                    }
                }
                "vrrp_garp_master_delay" => {
                    if let Some(ms) = self.arg(c).cloned().and_then(|w| self.secs(&w, 60.0)) {
                        garp_delay(&mut imp.defaults, &mut imp.defaults_notes, ms, &c.loc());
                    }
                }
                "vrrp_min_garp" => {
                    if c.args().first().is_none_or(|w| is_true(&w.text)) {
                        imp.defaults.garp_bursts = Some(1);
                        imp.defaults_notes.push((
                            "garp-bursts",
                            format!("{}: vrrp_min_garp: one burst, no repeat", c.loc()),
                        ));
                    }
                }
                "vrrp_strict" => {
                    imp.defaults.accept_mode = Some(false);
                    imp.defaults_notes.push((
                        "accept-mode",
                        format!(
                            "{}: vrrp_strict: no_accept everywhere (netvrrp drops traffic to the VIPs of a non-owner master); its other checks are netvrrp's normal behaviour",
                            c.loc()
                        ),
                    ));
                }
                "vrrp_check_unicast_src" => imp.notes.push(format!(
                    "{}: vrrp_check_unicast_src: netvrrp's unicast mode always hears only its peers",
                    c.loc()
                )),
                "router_id" | "lvs_id" => {
                    // A name for mails and logs: nothing changes without it.
                    imp.notes.push(format!(
                        "{}: {}: not needed (it only named this host in mails and logs)",
                        c.loc(),
                        words(&c.words)
                    ));
                }
                "notification_email"
                | "notification_email_from"
                | "smtp_server"
                | "smtp_connect_timeout"
                | "smtp_helo_name"
                | "smtp_alert"
                | "smtp_alert_vrrp" => {
                    let n = self.skip(
                        c,
                        "netvrrp sends no mail; use a [[vrrs.client]] of kind exec",
                    );
                    imp.notes.push(n);
                }
                "vrrp_garp_master_repeat"
                | "vrrp_garp_master_refresh"
                | "vrrp_garp_master_refresh_repeat"
                | "vrrp_garp_interval"
                | "vrrp_gna_interval"
                | "vrrp_garp_lower_prio_delay"
                | "vrrp_garp_lower_prio_repeat" => {
                    let n = self.skip(
                        c,
                        "netvrrp sends one gratuitous ARP/NA per address per burst (garp-bursts, garp-burst-interval) and no refresh",
                    );
                    imp.notes.push(n);
                }
                "script_user" | "enable_script_security" => {
                    let n = self.skip(
                        c,
                        "exec clients run as the user of the netvrrp runtime (root); drop privileges in the script",
                    );
                    imp.notes.push(n);
                }
                _ => {
                    let n = self.skip(c, "no netvrrp equivalent");
                    imp.notes.push(n);
                }
            }
        }
    }
}
