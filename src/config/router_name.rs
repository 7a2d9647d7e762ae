//! The optional `name` of a `[[vrrp]]`: what identifies "the same virtual router" across
//! hosts whose interface names differ (show, logs, metric labels, `subscribe NAME`).

/// Longest name accepted: a label value and a log field, not a description.
pub const MAX_LEN: usize = 64;

/// Why `name` cannot name a router, or None when it can. Letters, digits, `.`, `_` and `-`,
/// starting with a letter or digit: safe as a Prometheus label value, a journald field, a
/// shell word and a command-line argument (a leading `-` would read as an option).
pub fn problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a router name must not be empty".into());
    }
    if name.chars().count() > MAX_LEN {
        return Some(format!("a router name is at most {MAX_LEN} characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some(format!(
            "router name `{name}` must start with a letter or a digit"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "router name `{name}` has {bad:?}: use letters, digits, `.`, `_` and `-`"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_label_and_argument_safe() {
        for ok in ["web", "edge-1.dc2", "0vip_a", &"a".repeat(MAX_LEN)] {
            assert_eq!(problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "-web",
            ".x",
            "a b",
            "web\"",
            "é",
            &"a".repeat(MAX_LEN + 1),
        ] {
            assert!(problem(bad).is_some(), "{bad:?} accepted");
        }
    }

    fn errors(text: &str) -> Vec<String> {
        match crate::config::parse_str(text, "t.toml") {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    const TWO: &str = "[[vrrp]]\nname = \"web\"\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"192.0.2.1/24\"]\n\n\
                       [[vrrp]]\nname = \"NAME\"\ninterface = \"eth0\"\nvrid = 2\nipv4 = [\"192.0.2.2/24\"]\n";

    #[test]
    fn a_name_is_parsed_validated_and_unique() {
        let config = crate::config::parse_str(&TWO.replace("NAME", "db"), "t.toml").unwrap();
        let names: Vec<_> = config.routers.iter().map(|r| r.name.as_deref()).collect();
        assert_eq!(names, [Some("web"), Some("db")]);
        let unnamed = "[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"192.0.2.1/24\"]\n";
        let config = crate::config::parse_str(unnamed, "t.toml").unwrap();
        assert_eq!(config.routers[0].name, None);

        let e = errors(&TWO.replace("NAME", "web"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:8:8: vrrp[2].name: router name `web` is already used by vrrp[1].name at t.toml:2:8"),
            "{e:?}"
        );
        let e = errors(&TWO.replace("NAME", "-db"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:8:8: vrrp[2].name: router name `-db` must start"),
            "{e:?}"
        );
        let e = errors(&TWO.replace("\"NAME\"", "7"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("t.toml:8:8: vrrp[2].name:"), "{e:?}");
    }
}
