//! keepalived tracking → `[[track]]` objects and router `track` entries: `vrrp_script`,
//! `vrrp_track_process`, `track_file` objects, `track_interface` / `track_script` /
//! `track_process` / `track_file` entries and their weights, translated by meaning (a
//! positive weight becomes a higher priority lowered while the object is down; weight 0 is
//! keepalived's FAULT, a `fault = true` entry).

use super::*;

impl Cx<'_> {
    /// vrrp_script / vrrp_track_process / track_file: a `[[track]]` of kind exec, process
    /// or file.
    pub(super) fn object(&mut self, st: &Statement, kind: &'static str, imp: &mut Imported) {
        let Some(name) = st.args().first() else {
            self.d
                .error(st.loc(), format!("`{}` needs a name", st.keyword()));
            return;
        };
        let ka_name = name.text.clone();
        let name = track_name(&ka_name);
        // keepalived's default weight: 0 (FAULT) for scripts, 1 for processes and files.
        let mut weight = if kind == "exec" { 0 } else { 1 };
        let mut reverse = false;
        let mut fields = Vec::new();
        let mut notes = vec![format!("{}: {} {ka_name}", st.loc(), st.keyword())];
        if name != ka_name {
            notes.push(format!(
                "named {name}: a [[track]] name is letters, digits, `-`, `_` and `.`"
            ));
        }
        // keepalived assumes a script healthy until it fails, unless `init_fail`.
        let mut init_fail = false;
        // The key the kind cannot do without.
        let mut required = false;
        for c in st.children() {
            match c.keyword() {
                "script" if kind == "exec" => {
                    if let Some(w) = self.arg(c).cloned() {
                        let argv = self.exec_command(&w, &mut notes);
                        required = !argv.is_empty();
                        fields.push(("command", strings(&argv)));
                    }
                }
                "process" if kind == "process" => {
                    required |= self.process_field(c, &mut fields, &mut notes);
                }
                "file" if kind == "file" => {
                    required |= self.file_field(c, &mut fields, &mut notes);
                }
                "interval" | "timeout" | "rise" | "fall" => {
                    self.timing_field(c, &mut fields, &mut notes);
                }
                "init_fail" if kind == "exec" => init_fail = true,
                // The minimum number of matching processes, keepalived's default 1: what a
                // process object does anyway (up while any process of that name runs).
                "quorum"
                    if kind == "process"
                        && c.args().len() == 1
                        && c.args().first().is_some_and(|w| w.text == "1") =>
                {
                    notes.push(format!(
                        "{}: quorum 1: up while at least one such process runs (same meaning)",
                        c.loc()
                    ));
                }
                "quorum" | "quorum_max" if kind == "process" => {
                    let n = self.skip(
                        c,
                        "a process object is up while any one process of that name runs, however many",
                    );
                    notes.push(n);
                }
                "weight" => {
                    // track_file allows any 32-bit weight (it multiplies the file's number);
                    // a priority moves by 254 at the most.
                    let range = i64::from(i32::MIN)..=i64::from(i32::MAX);
                    if let Some(v) = self
                        .arg(c)
                        .cloned()
                        .and_then(|w| self.int(&w, *range.start(), *range.end()))
                    {
                        weight = v.clamp(-254, 254) as i32;
                    }
                    reverse = c.args().get(1).is_some_and(|w| w.text == "reverse");
                }
                _ => {
                    let n = self.skip(c, "no [[track]] equivalent");
                    notes.push(n);
                }
            }
        }
        if kind == "exec" && required {
            if init_fail {
                fields.push(("initial", string("down")));
            } else {
                notes.push(
                    "keepalived counts a script healthy until it fails (no init_fail): initial = \"up\""
                        .to_string(),
                );
                fields.push(("initial", string("up")));
            }
        }
        if !required {
            let what = match kind {
                "exec" => "script",
                "process" => "process",
                _ => "file",
            };
            self.d.warn(
                st.loc(),
                format!(
                    "{} {ka_name}: no usable `{what}`; not translated, and not tracked where it is used",
                    st.keyword()
                ),
            );
            imp.notes.push(format!(
                "{}: {} {ka_name}: not translated: no usable `{what}`",
                st.loc(),
                st.keyword()
            ));
        }
        self.objects.insert(
            ka_name,
            Object {
                kind,
                name: required.then(|| name.clone()),
                weight,
                reverse,
            },
        );
        if required {
            imp.tracks.push(TrackObject {
                name,
                kind,
                fields,
                notes,
            });
        }
    }

    /// `process` of a vrrp_track_process: the kernel's process name (comm); whether it
    /// gave one.
    fn process_field(
        &mut self,
        c: &Statement,
        fields: &mut Vec<(&'static str, String)>,
        notes: &mut Vec<String>,
    ) -> bool {
        let mut required = false;
        let argv: Vec<String> = c.args().iter().map(|w| w.text.clone()).collect();
        if let Some(p) = argv.first() {
            // The kernel's comm: the program's file name, at most 15 bytes.
            let base = p.rsplit('/').next().unwrap_or(p);
            let mut comm = base.to_string();
            while comm.len() > COMM_MAX {
                comm.pop();
            }
            if comm != *p {
                notes.push(format!(
                    "process {p}: netvrrp matches the kernel's process name (comm: the program's file name, at most {COMM_MAX} bytes)"
                ));
            }
            if !comm.is_empty() {
                fields.push(("process", string(&comm)));
                required = true;
            }
        }
        if argv.len() > 1 {
            self.d.warn(
                c.loc(),
                format!(
                    "process {}: the parameters {:?} are not matched (netvrrp matches the process name only)",
                    argv[0],
                    &argv[1..]
                ),
            );
            notes.push(format!(
                "{}: process parameters {:?}: not matched, netvrrp matches the process name only",
                c.loc(),
                &argv[1..]
            ));
        }
        required
    }

    /// `file` of a track_file: an absolute path, up while it holds 0; whether it gave one.
    fn file_field(
        &mut self,
        c: &Statement,
        fields: &mut Vec<(&'static str, String)>,
        notes: &mut Vec<String>,
    ) -> bool {
        let mut required = false;
        if let Some(p) = c.args().first() {
            if p.text.starts_with('/') {
                fields.push(("file", string(&p.text)));
                fields.push(("up-when", string("zero")));
                required = true;
                notes.push(
                    "keepalived's track_file holds a number, 0 when healthy: up-when = \"zero\" is up while the file holds 0 and down otherwise (another number, no number, or no file). keepalived moved the priority by the number times the weight (weight 0: FAULT unless 0); netvrrp takes the router's whole decrement, or faults, while it is down"
                        .to_string(),
                );
            } else {
                self.d.warn(
                    p.loc.clone(),
                    format!("file {}: not an absolute path", p.text),
                );
            }
        }
        required
    }

    /// `interval`, `timeout`, `rise`, `fall`: within netvrrp's limits, with a note where
    /// they had to move.
    fn timing_field(
        &mut self,
        c: &Statement,
        fields: &mut Vec<(&'static str, String)>,
        notes: &mut Vec<String>,
    ) {
        match c.keyword() {
            "interval" | "timeout" => {
                let key = if c.keyword() == "interval" {
                    "interval-ms"
                } else {
                    "timeout-ms"
                };
                if let Some(ms) = self.arg(c).cloned().and_then(|w| self.secs(&w, 3600.0)) {
                    if ms < CHECK_MS_MIN {
                        notes.push(format!(
                            "{}: {} {} s: netvrrp's shortest is {CHECK_MS_MIN} ms",
                            c.loc(),
                            c.keyword(),
                            f64::from(ms) / 1000.0
                        ));
                    }
                    fields.push((key, ms.max(CHECK_MS_MIN).to_string()));
                }
            }
            "rise" | "fall" => {
                let key = if c.keyword() == "rise" {
                    "rise"
                } else {
                    "fall"
                };
                if let Some(v) = self
                    .arg(c)
                    .cloned()
                    .and_then(|w| self.int(&w, 1, 1_000_000))
                {
                    if v > RISE_FALL_MAX {
                        self.d.warn(
                            c.loc(),
                            format!("{key} {v}: netvrrp counts up to {RISE_FALL_MAX}"),
                        );
                        notes.push(format!(
                            "{}: {key} {v}: {RISE_FALL_MAX} is netvrrp's most",
                            c.loc()
                        ));
                    }
                    fields.push((key, v.min(RISE_FALL_MAX).to_string()));
                }
            }
            _ => {}
        }
    }

    /// A vrrp_script `script`: keepalived splits it into words and runs the program
    /// itself. An absolute program with plain arguments is that argv; anything else (a
    /// program found in PATH, shell syntax) runs through `/bin/sh -c`, since netvrrp runs
    /// an argv with an absolute program and no shell.
    pub(super) fn exec_command(&mut self, w: &Word, notes: &mut Vec<String>) -> Vec<String> {
        let argv = split_script(w);
        let Some(program) = argv.first() else {
            return argv;
        };
        let plain = program.starts_with('/')
            && !w.text.chars().any(|c| "|&;<>()$`\\\"*?[]#~{}!".contains(c));
        if plain {
            return argv;
        }
        let why = if program.starts_with('/') {
            "it has shell syntax"
        } else {
            "its program is not an absolute path (the shell looks it up in PATH)"
        };
        notes.push(format!(
            "{}: script {:?}: run through /bin/sh -c because {why}; netvrrp runs no shell itself, check the quoting",
            w.loc, w.text
        ));
        vec!["/bin/sh".to_string(), "-c".to_string(), w.text.clone()]
    }

    /// `weight W [reverse|noreverse]` after a tracked name; `default` when absent.
    pub(super) fn weight(&mut self, t: &Statement, default: Option<i32>) -> (Option<i32>, bool) {
        let mut weight = default;
        let mut reverse = false;
        let mut it = t.args().iter();
        while let Some(w) = it.next() {
            match w.text.as_str() {
                "weight" => {
                    if let Some(v) = it.next() {
                        weight = self.int(v, -254, 254).map(|v| v as i32);
                    } else {
                        self.d
                            .error(w.loc.clone(), "`weight` needs a number".to_string());
                    }
                }
                "reverse" => reverse = true,
                "noreverse" | "no_reverse" => reverse = false,
                other => self.d.warn(
                    w.loc.clone(),
                    format!("`{other}` ignored (expected weight N [reverse])"),
                ),
            }
        }
        (weight, reverse)
    }

    pub(super) fn track_interface(&mut self, r: &mut Router, w: &Word, weight: i32, reverse: bool) {
        let at = &w.loc;
        let iface = &w.text;
        if owner_ignores(r, &w.loc, iface, weight) {
            return;
        }
        if reverse {
            self.d.warn(
                at.clone(),
                format!("track_interface {iface} reverse: no equivalent (netvrrp lowers the priority while an interface is down, never while it is up); not tracked"),
            );
            r.note(
                "track",
                format!(
                    "{at}: {iface} weight {weight} reverse: not translated (no reverse tracking)"
                ),
            );
            return;
        }
        let decrement = match weight {
            w if w < 0 => {
                r.note("track", format!("{at}: keepalived weight {w} on {iface}: lowered by {} while it is down (same meaning)", -w));
                Some((-w) as u8)
            }
            0 => {
                r.note(
                    "track",
                    format!("{at}: {iface} without weight: keepalived went to FAULT while it was down; fault = true does the same (the router leaves the election, rather than a decrement of {MAX_DECREMENT} that still lets it become Master alone)"),
                );
                None
            }
            w => Some(self.raise(r, at, iface, w)),
        };
        add_track(r, true, iface, decrement);
    }

    /// A weighted entry a vrrp_sync_group member lists itself (not the group's own tracking,
    /// and not with `sync_group_tracking_weight`), as keepalived 2.2.7 runs it
    /// (vrrp_complete_instance): an interface's weight is ignored, so the member goes to
    /// FAULT while it is down; a file of weight 1 (the default) gets weight 0, FAULT too; a
    /// weighted script, or a file of another weight, is not tracked at all. Processes keep
    /// their weights and do not come here. `object` is the `[[track]]` name (None: an
    /// interface). keepalived reports each at load time; so does the import.
    pub(super) fn sync_member(
        &mut self,
        r: &mut Router,
        group: &str,
        keyword: &str,
        w: &Word,
        object: Option<&str>,
        weight: i32,
    ) {
        let at = &w.loc;
        let ka = &w.text;
        let fault = match keyword {
            "track_interface" => Some(("the weight", "FAULT while it is down")),
            "track_file" if weight == 1 => Some((
                "the default weight 1",
                "FAULT while it holds anything but 0",
            )),
            _ => None,
        };
        match fault {
            Some((what, how)) => {
                self.d.warn(
                    at.clone(),
                    format!("{keyword} {ka} weight {weight}: in vrrp_sync_group {group} keepalived zeroes it ({how}): fault = true"),
                );
                r.note(
                    "track",
                    format!("{at}: {keyword} {ka} weight {weight}: keepalived zeroes {what} of a sync group member's own {keyword} ({how}); fault = true does the same"),
                );
                add_track(r, object.is_none(), object.unwrap_or(ka), None);
            }
            None => {
                self.d.warn(
                    at.clone(),
                    format!("{keyword} {ka} weight {weight}: keepalived does not track it in vrrp_sync_group {group}; not tracked (track it on the group, or set sync_group_tracking_weight there, to keep it)"),
                );
                r.note(
                    "track",
                    format!("{at}: {keyword} {ka} weight {weight}: not tracked, as in keepalived, which drops a sync group member's own weighted {keyword} entries"),
                );
            }
        }
    }

    /// A positive keepalived weight, added while `what` was up: netvrrp starts that much
    /// higher (at most 254, as keepalived caps it) and lowers by it while `what` is down.
    pub(super) fn raise(&mut self, r: &mut Router, at: &Location, what: &str, w: i32) -> u8 {
        r.note(
            "track",
            format!("{at}: keepalived weight +{w} on {what} added {w} while it was up; netvrrp starts {w} higher and lowers by {w} while it is down"),
        );
        let base = i32::from(r.settings.priority.unwrap_or(100));
        // keepalived never moves an owner (255) and never raises anyone to 255.
        if base < 255 {
            if base + w > 254 {
                self.d.warn(
                    at.clone(),
                    format!(
                        "weight +{w} on {what}: priority {} capped at 254 (as in keepalived)",
                        base + w
                    ),
                );
            }
            r.settings.priority = Some((base + w).min(254) as u8);
        }
        w as u8
    }

    /// A tracked `[[track]]` object (`name`, from keepalived's `w`): a negative weight is a
    /// decrement, a positive one raises the priority by as much, weight 0 is FAULT.
    pub(super) fn track_object(
        &mut self,
        r: &mut Router,
        w: &Word,
        kind: &str,
        name: &str,
        weight: i32,
        reverse: bool,
    ) {
        let ka = &w.text;
        let at = &w.loc;
        if owner_ignores(r, at, ka, weight) {
            return;
        }
        if reverse {
            self.d.warn(
                at.clone(),
                format!("track {kind} {ka} reverse: no equivalent (netvrrp has no reverse tracking); not tracked"),
            );
            r.note(
                "track",
                format!("{at}: {ka} reverse: not translated (no reverse tracking in netvrrp)"),
            );
            return;
        }
        let decrement = match weight {
            w if w < 0 => {
                let how = if kind == "file" {
                    "while it holds anything but 0 (keepalived: by the number times the weight)"
                } else {
                    "while it is down (same meaning)"
                };
                r.note(
                    "track",
                    format!(
                        "{at}: keepalived weight {w} on {ka}: lowered by {} {how}",
                        -w
                    ),
                );
                Some((-w) as u8)
            }
            0 => {
                r.note(
                    "track",
                    format!("{at}: {ka} with weight 0: keepalived went to FAULT while it was down; fault = true does the same (the router leaves the election)"),
                );
                None
            }
            w if kind == "file" => {
                // keepalived added the number times the weight: a file holding 0, the
                // healthy value, added nothing.
                self.d.warn(
                    at.clone(),
                    format!("track_file {ka} weight +{w}: keepalived raised the priority by the file's number times {w}; no equivalent (a file object is up while the file holds 0); not tracked"),
                );
                r.note(
                    "track",
                    format!("{at}: {ka} weight +{w}: not translated (keepalived raised the priority with a non-zero number in the file)"),
                );
                return;
            }
            w => Some(self.raise(r, at, ka, w)),
        };
        add_track(r, false, name, decrement);
    }
}

/// keepalived never moves an address owner's priority (255) by a weight (FAULT, weight 0,
/// still applies): such an entry is left out, with a comment. True when it was.
pub(super) fn owner_ignores(r: &mut Router, at: &Location, what: &str, weight: i32) -> bool {
    if r.settings.priority != Some(255) || weight == 0 {
        return false;
    }
    r.note(
        "track",
        format!("{at}: {what} weight {weight}: left out, keepalived ignores weights for an address owner (priority 255)"),
    );
    true
}

/// Add a `track` entry; a second use of the same interface or object adds its decrement
/// (at most 254), and a fault wins over a decrement.
pub(super) fn add_track(r: &mut Router, interface: bool, name: &str, decrement: Option<u8>) {
    match r
        .track
        .iter_mut()
        .find(|t| t.interface == interface && t.name == name)
    {
        Some(t) => {
            t.decrement = match (t.decrement, decrement) {
                (Some(a), Some(b)) => Some(a.saturating_add(b).min(MAX_DECREMENT)),
                _ => None,
            }
        }
        None => r.track.push(TrackEntry {
            interface,
            name: name.to_string(),
            decrement,
        }),
    }
}

/// A keepalived object name as a `[[track]]` name (letters, digits, `-`, `_`, `.`).
pub(super) fn track_name(s: &str) -> String {
    let n: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if n.is_empty() { "_".to_string() } else { n }
}
