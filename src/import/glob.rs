//! The glob(3) subset keepalived include patterns use: `*`, `?` and `[...]` inside path
//! components. No new dependency for a dozen lines of matching.

use std::path::{Component, Path, PathBuf};

/// Files matching `pattern`, sorted; a pattern without wildcards names itself (when it
/// exists), so the caller reports a missing file the same way as an empty match.
pub fn expand(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for comp in pattern.components() {
        let part = match comp {
            Component::Normal(p) => p.to_string_lossy().into_owned(),
            other => {
                for f in &mut found {
                    f.push(other.as_os_str());
                }
                continue;
            }
        };
        if !has_wildcard(&part) {
            for f in &mut found {
                f.push(&part);
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let listing = if dir.as_os_str().is_empty() {
                std::fs::read_dir(".")
            } else {
                std::fs::read_dir(dir)
            };
            let Ok(entries) = listing else { continue };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                // Like glob(3): a leading dot is matched only by a leading dot.
                .filter(|n| !n.starts_with('.') || part.starts_with('.'))
                .filter(|n| matches(part.as_bytes(), n.as_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    found.retain(|p| p.is_file());
    found
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Does `name` match the shell pattern `pat` (one path component)?
pub fn matches(pat: &[u8], name: &[u8]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| matches(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && matches(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some(end) = rest.iter().skip(1).position(|&c| c == b']').map(|p| p + 1) else {
                // An unclosed `[` is an ordinary character.
                return name.first() == Some(&b'[') && matches(rest, &name[1..]);
            };
            let Some((&c, name_rest)) = name.split_first() else {
                return false;
            };
            let (negate, set) = match rest[..end].split_first() {
                Some((b'!' | b'^', s)) => (true, s),
                _ => (false, &rest[..end]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != negate && matches(&rest[end + 1..], name_rest)
        }
        Some((&p, rest)) => name.first() == Some(&p) && matches(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn shell_patterns() {
        let m = |p: &str, n: &str| matches(p.as_bytes(), n.as_bytes());
        assert!(m("*.conf", "a.conf"));
        assert!(!m("*.conf", "a.conf.bak"));
        assert!(m("vi_?.conf", "vi_1.conf"));
        assert!(m("[0-9]*", "10-web"));
        assert!(!m("[!0-9]*", "10-web"));
        assert!(m("a[", "a["));
    }
}
