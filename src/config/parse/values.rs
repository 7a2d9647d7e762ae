//! Reading typed values from the document: every reader reports a problem at the value's
//! own position (with a suggestion for a misspelt key) and returns None, so the walk goes
//! on and the operator gets every error of the file in one run.

use super::*;

impl Checker<'_> {
    pub(super) fn type_error(&mut self, e: &Entry<'_>, expected: &str) {
        let found = e.type_name();
        self.error(
            &e.span,
            &e.path,
            format!("expected {expected}, found {found}"),
        );
    }

    /// Report keys not in `allowed`; `elsewhere` are keys valid in another table (they get
    /// a hint instead of a bare "unknown key").
    pub(super) fn check_keys(
        &mut self,
        r: &Reader<'_>,
        allowed: &[&str],
        elsewhere: &[(&str, &str)],
    ) {
        for (key, span) in r.tbl.keys() {
            if allowed.contains(&key) {
                continue;
            }
            let path = r.child(key);
            if let Some((_, hint)) = elsewhere.iter().find(|(k, _)| *k == key) {
                self.error(
                    &span,
                    &path,
                    format!("key `{key}` is not valid here: {hint}"),
                );
                continue;
            }
            let mut message = format!("unknown key `{key}`");
            if let Some(s) = suggest(key, allowed) {
                message.push_str(&format!(" (did you mean `{s}`?)"));
            }
            self.error(&span, &path, message);
        }
    }

    pub(super) fn integer(
        &mut self,
        e: &Entry<'_>,
        range: RangeInclusive<i64>,
        what: &str,
    ) -> Option<i64> {
        match e.value {
            Some(Value::Integer(i)) => {
                let v = *i.value();
                if range.contains(&v) {
                    Some(v)
                } else {
                    let (lo, hi) = (range.start(), range.end());
                    self.error(
                        &e.span,
                        &e.path,
                        format!("{what} {v} is out of range {lo}..={hi}"),
                    );
                    None
                }
            }
            _ => {
                self.type_error(e, "integer");
                None
            }
        }
    }

    pub(super) fn int_as<T: TryFrom<i64>>(
        &mut self,
        e: &Entry<'_>,
        range: RangeInclusive<i64>,
        what: &str,
    ) -> Option<T> {
        // The ranges are chosen to fit T, so the conversion only fails if they were not.
        self.integer(e, range, what)
            .and_then(|v| T::try_from(v).ok())
    }

    pub(super) fn boolean(&mut self, e: &Entry<'_>) -> Option<bool> {
        match e.value {
            Some(Value::Boolean(b)) => Some(*b.value()),
            _ => {
                self.type_error(e, "boolean");
                None
            }
        }
    }

    pub(super) fn string<'v>(&mut self, e: &Entry<'v>) -> Option<&'v str> {
        match e.value {
            Some(Value::String(s)) => Some(s.value().as_str()),
            _ => {
                self.type_error(e, "string");
                None
            }
        }
    }

    pub(super) fn array<'v>(&mut self, e: &Entry<'v>) -> Option<&'v Array> {
        match e.value {
            Some(Value::Array(a)) => Some(a),
            _ => {
                self.type_error(e, "array");
                None
            }
        }
    }

    /// An array of strings: each valid string with its entry (wrong elements reported).
    pub(super) fn strings<'v>(&mut self, e: &Entry<'v>) -> Option<Vec<(Entry<'v>, &'v str)>> {
        let array = self.array(e)?;
        let mut out = Vec::new();
        for (i, v) in array.iter().enumerate() {
            let el = Entry::element(&e.path, i, v);
            if let Some(s) = self.string(&el) {
                out.push((el, s));
            }
        }
        Some(out)
    }

    pub(super) fn set<T>(&self, e: &Entry<'_>, value: T) -> Set<T> {
        Set {
            value,
            span: e.span.clone(),
            path: e.path.clone(),
        }
    }

    /// A required key: report it missing at the table.
    pub(super) fn required<'v>(&mut self, r: &Reader<'v>, key: &str) -> Option<Entry<'v>> {
        let e = r.entry(key);
        if e.is_none() {
            let path = r.child(key);
            self.error(
                &r.tbl.span(),
                &path,
                format!("missing required key `{key}`"),
            );
        }
        e
    }

    /// A single table (`[x]` or `x = { … }`).
    pub(super) fn table<'v>(&mut self, parent: &Reader<'v>, key: &str) -> Option<Reader<'v>> {
        let e = parent.entry(key)?;
        match e.item.and_then(Tbl::from_item) {
            Some(tbl) => Some(Reader { tbl, path: e.path }),
            None => {
                self.type_error(&e, "table");
                None
            }
        }
    }

    /// A list of tables (`[[x]]` or `x = [{ … }, …]`), each with its 1-based path.
    pub(super) fn table_list<'v>(&mut self, parent: &Reader<'v>, key: &str) -> Vec<Reader<'v>> {
        let Some(e) = parent.entry(key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match e.item {
            Some(Item::ArrayOfTables(aot)) => {
                for (i, t) in aot.iter().enumerate() {
                    out.push(Reader {
                        tbl: Tbl::Std(t),
                        path: format!("{}[{}]", e.path, i + 1),
                    });
                }
            }
            Some(Item::Value(Value::Array(array))) => {
                for (i, v) in array.iter().enumerate() {
                    let el = Entry::element(&e.path, i, v);
                    match v {
                        Value::InlineTable(t) => out.push(Reader {
                            tbl: Tbl::Inline(t),
                            path: el.path,
                        }),
                        _ => self.type_error(&el, "table"),
                    }
                }
            }
            _ => self.type_error(&e, "array of tables"),
        }
        out
    }

    /// Check an interface name the way the kernel's dev_valid_name() does.
    pub(super) fn interface_name(&mut self, e: &Entry<'_>, name: &str) -> bool {
        let problem = if name.is_empty() {
            Some("an interface name must not be empty".to_string())
        } else if name.len() > IFNAME_MAX {
            Some(format!(
                "interface name `{name}` is {} bytes long; Linux allows at most {IFNAME_MAX}",
                name.len()
            ))
        } else if name == "." || name == ".." {
            Some(format!("`{name}` is not a valid interface name"))
        } else if name.contains(['/', ':']) || name.chars().any(char::is_whitespace) {
            Some(format!(
                "interface name `{name}` contains `/`, `:` or white space, which Linux refuses"
            ))
        } else {
            None
        };
        match problem {
            Some(m) => {
                self.error(&e.span, &e.path, m);
                false
            }
            None => true,
        }
    }

    pub(super) fn required_interface(&mut self, r: &Reader<'_>) -> Option<Set<String>> {
        let e = self.required(r, "interface")?;
        let name = self.string(&e)?;
        if self.interface_name(&e, name) {
            Some(self.set(&e, name.to_string()))
        } else {
            None
        }
    }

    pub(super) fn leader_name(&mut self, e: &Entry<'_>, name: &str) -> Option<Set<String>> {
        if name.trim().is_empty() {
            self.error(&e.span, &e.path, "a VRRS leader name must not be empty");
            return None;
        }
        Some(self.set(e, name.to_string()))
    }
}

/// The closest allowed key, for "did you mean" hints (typos and snake_case).
pub(super) fn suggest<'k>(key: &str, allowed: &[&'k str]) -> Option<&'k str> {
    let kebab = key.replace('_', "-").to_ascii_lowercase();
    allowed
        .iter()
        .map(|a| (levenshtein(&kebab, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

pub(super) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
