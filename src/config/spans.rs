//! Where a value is written in a file, for messages about a valid file that does not fit
//! the host (a missing interface, a VIP the host already has, priority 255 without the
//! addresses): `file:line:col: key: message` like every configuration error, pointing at
//! the value. The parsed [`super::Config`] keeps only each table's start (thousands of
//! routers); the file is parsed again with spans only when there is something to report.

use super::Location;
use std::fmt;
use toml_edit::{Document, Item, Value};

/// A file's text parsed with spans.
pub struct FileSpans<'a> {
    text: &'a str,
    doc: Document<&'a str>,
}

impl<'a> FileSpans<'a> {
    /// None when the text no longer parses (the file changed since it was read).
    pub fn parse(text: &'a str) -> Option<FileSpans<'a>> {
        Document::parse(text)
            .ok()
            .map(|doc| FileSpans { text, doc })
    }

    /// The 1-based (line, column) of `table[index].key[elem]` (`index` and `elem` 0-based;
    /// `table` dotted, e.g. `vrrs.pathway`). For a `[[vrrp]]` that does not write the key,
    /// `defaults.key`, where its value comes from. None when the file writes neither.
    pub fn position(
        &self,
        table: &str,
        index: usize,
        key: &str,
        elem: Option<usize>,
    ) -> Option<(usize, usize)> {
        let mut tables = table.split('.');
        let first = self.doc.get(tables.next()?)?;
        let list = tables.try_fold(first, |item, name| item.get(name))?;
        // None: the table does not write the key.
        let own: Option<&Value> = match list {
            Item::ArrayOfTables(a) => a.get(index)?.get(key).and_then(Item::as_value),
            Item::Value(Value::Array(a)) => a.get(index)?.as_inline_table()?.get(key),
            _ => return None,
        };
        let span = match (own, elem) {
            (Some(v), Some(j)) => v.as_array().and_then(|a| a.get(j)).and_then(Value::span),
            (Some(v), None) => v.span(),
            (None, _) if table == "vrrp" => self
                .doc
                .get("defaults")
                .and_then(|d| d.get(key))
                .and_then(Item::span),
            (None, _) => None,
        };
        let start = span?.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |p| p + 1);
        Some((line, self.text[line_start..start].chars().count() + 1))
    }
}

/// One value of a table array (`vrrp[1].ipv4[2]`), and where it is written: its table's
/// start until [`ValueRef::place`] finds the value itself. Displays as
/// `file:line:col: key`, the head of a configuration error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueRef {
    /// The dotted table array: `vrrp`, `vrrs.pathway`.
    pub table: &'static str,
    /// 0-based, in file order.
    pub index: usize,
    pub key: &'static str,
    /// 0-based element of an array value.
    pub elem: Option<usize>,
    pub location: Location,
}

impl ValueRef {
    /// `key` of the `index`th `[[vrrp]]`, which starts at `table_start`.
    pub fn router(
        index: usize,
        key: &'static str,
        elem: Option<usize>,
        table_start: &Location,
    ) -> Self {
        ValueRef {
            table: "vrrp",
            index,
            key,
            elem,
            location: table_start.clone(),
        }
    }

    /// Point at the value itself when `spans` finds it (else stay at the table start).
    pub fn place(&mut self, spans: &FileSpans) {
        if let Some((line, column)) = spans.position(self.table, self.index, self.key, self.elem) {
            self.location.line = line;
            self.location.column = column;
        }
    }
}

impl fmt::Display for ValueRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}[{}].{}",
            self.location,
            self.table,
            self.index + 1,
            self.key
        )?;
        if let Some(j) = self.elem {
            write!(f, "[{}]", j + 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "[defaults]\npriority = 255\n\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"192.0.2.1/24\", \"198.51.100.1/24\"]\n\n[[vrrs.pathway]]\nleader = \"web\"\ninterface = \"eth1\"\n";

    fn at(key: &'static str, elem: Option<usize>) -> String {
        let spans = FileSpans::parse(FILE).unwrap();
        let mut v = ValueRef::router(
            0,
            key,
            elem,
            &Location {
                file: "t.toml".into(),
                line: 4,
                column: 1,
            },
        );
        v.place(&spans);
        v.to_string()
    }

    #[test]
    fn a_value_is_placed_at_itself_an_element_at_the_element() {
        assert_eq!(at("interface", None), "t.toml:5:13: vrrp[1].interface");
        assert_eq!(at("ipv4", Some(1)), "t.toml:7:25: vrrp[1].ipv4[2]");
        // From [defaults]: where the value is written.
        assert_eq!(at("priority", None), "t.toml:2:12: vrrp[1].priority");
        // Written nowhere: the table start.
        assert_eq!(at("ipv6", Some(0)), "t.toml:4:1: vrrp[1].ipv6[1]");
        let spans = FileSpans::parse(FILE).unwrap();
        assert_eq!(
            spans.position("vrrs.pathway", 0, "interface", None),
            Some((11, 13))
        );
        assert_eq!(spans.position("vrrs.pathway", 0, "priority", None), None);
    }
}
