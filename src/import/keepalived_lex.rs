//! keepalived.conf(5) syntax: words, quoted strings, `{ }` blocks, `#`/`!` comments and
//! `include` directives (relative to the including file, with globs), read into a tree of
//! statements that remember where each word came from.

use super::{Diag, Diags, glob};
use crate::config::Location;
use std::path::{Path, PathBuf};

/// One word of the file (quotes already removed) and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub text: String,
    pub loc: Location,
    /// Written inside double quotes: one word even with spaces in it (scripts).
    pub quoted: bool,
}

/// One statement: the words of one line, and the block that follows them, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub words: Vec<Word>,
    pub block: Option<Vec<Statement>>,
}

impl Statement {
    pub fn keyword(&self) -> &str {
        self.words.first().map(|w| w.text.as_str()).unwrap_or("")
    }
    pub fn loc(&self) -> Location {
        self.words
            .first()
            .map(|w| w.loc.clone())
            .unwrap_or_default()
    }
    /// The words after the keyword.
    pub fn args(&self) -> &[Word] {
        self.words.get(1..).unwrap_or(&[])
    }
    pub fn children(&self) -> &[Statement] {
        self.block.as_deref().unwrap_or(&[])
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(Word),
    Open(Location),
    Close(Location),
    /// The end of a line (or of a file): ends the statement being read.
    Eol,
}

/// keepalived stops at this include depth as well; it also catches include loops.
const MAX_INCLUDE_DEPTH: usize = 20;

/// Read `path` and everything it includes into statements. Problems that stop the reading
/// (unreadable file, unbalanced braces) are errors; dropped lines are warnings.
pub fn read(path: &Path, diags: &mut Diags) -> Option<Vec<Statement>> {
    let mut toks = Vec::new();
    let mut stack = Vec::new();
    if let Err(e) = lex_file(path, None, &mut toks, &mut stack, diags) {
        diags.errors.push(e);
        return None;
    }
    let mut pos = 0;
    // Even with syntax errors the tree is returned: translating it reports the errors in
    // the values too, so the operator sees every problem at once.
    Some(parse_block(&toks, &mut pos, None, diags))
}

/// Parse the text of one file (no includes resolved relative to a real directory unless
/// `file` names one): for tests and for callers that already have the text.
pub fn read_str(text: &str, file: &str, diags: &mut Diags) -> Vec<Statement> {
    let mut toks = Vec::new();
    let mut stack = vec![PathBuf::from(file)];
    lex_text(text, Path::new(file), &mut toks, &mut stack, diags);
    let mut pos = 0;
    parse_block(&toks, &mut pos, None, diags)
}

fn lex_file(
    path: &Path,
    from: Option<&Location>,
    toks: &mut Vec<Tok>,
    stack: &mut Vec<PathBuf>,
    diags: &mut Diags,
) -> Result<(), Diag> {
    let at = from.cloned().unwrap_or(Location {
        file: path.display().to_string(),
        line: 0,
        column: 0,
    });
    if stack.len() >= MAX_INCLUDE_DEPTH || stack.iter().any(|p| p == path) {
        return Err(Diag::new(
            at,
            format!(
                "include loop or more than {MAX_INCLUDE_DEPTH} nested includes at {}",
                path.display()
            ),
        ));
    }
    let text = std::fs::read(path)
        .map_err(|e| Diag::new(at.clone(), format!("cannot read {}: {e}", path.display())))?;
    // keepalived reads bytes; a stray Latin-1 comment should not stop the import.
    let text = String::from_utf8_lossy(&text);
    stack.push(path.to_path_buf());
    lex_text(&text, path, toks, stack, diags);
    stack.pop();
    Ok(())
}

fn lex_text(
    text: &str,
    path: &Path,
    toks: &mut Vec<Tok>,
    stack: &mut Vec<PathBuf>,
    diags: &mut Diags,
) {
    let file = path.display().to_string();
    for (n, line) in text.lines().enumerate() {
        let mut words = Vec::new();
        if let Err(e) = lex_line(line, &file, n + 1, &mut words) {
            diags.errors.push(e);
            continue;
        }
        let first = words.iter().find_map(|t| match t {
            Tok::Word(w) => Some(w.clone()),
            _ => None,
        });
        if let Some(first) = first {
            let kw = first.text.as_str();
            if first.loc.column == first_column(line) && is_include(kw) && !first.quoted {
                include(&words, path, toks, stack, diags);
                continue;
            }
            if kw.starts_with('@') && !first.quoted {
                diags.warn(
                    first.loc.clone(),
                    "conditional configuration (@host lines) is not imported; the line was skipped"
                        .to_string(),
                );
                continue;
            }
            if kw.starts_with('$') && !first.quoted {
                diags.warn(
                    first.loc.clone(),
                    "configuration variables ($NAME) are not expanded; the line was skipped"
                        .to_string(),
                );
                continue;
            }
        }
        toks.extend(words);
        toks.push(Tok::Eol);
    }
}

fn first_column(line: &str) -> usize {
    line.chars().take_while(|c| c.is_whitespace()).count() + 1
}

fn is_include(kw: &str) -> bool {
    matches!(
        kw,
        "include" | "includer" | "includem" | "includew" | "includeb" | "includea"
    )
}

/// `include PATTERN`: every file matching, in name order, read in place. A relative
/// pattern is relative to the directory of the including file (as keepalived does).
fn include(
    words: &[Tok],
    path: &Path,
    toks: &mut Vec<Tok>,
    stack: &mut Vec<PathBuf>,
    diags: &mut Diags,
) {
    let args: Vec<&Word> = words
        .iter()
        .filter_map(|t| match t {
            Tok::Word(w) => Some(w),
            _ => None,
        })
        .collect();
    let [kw, pattern, rest @ ..] = args.as_slice() else {
        if let Some(kw) = args.first() {
            diags.warn(
                kw.loc.clone(),
                "include without a file name; skipped".to_string(),
            );
        }
        return;
    };
    if let Some(extra) = rest.first() {
        diags.warn(
            extra.loc.clone(),
            format!("{}: extra words after the file name are ignored", kw.text),
        );
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let full = if Path::new(&pattern.text).is_absolute() {
        PathBuf::from(&pattern.text)
    } else {
        base.join(&pattern.text)
    };
    let matches = glob::expand(&full);
    if matches.is_empty() {
        diags.warn(
            pattern.loc.clone(),
            format!(
                "include {}: no file matches; nothing included",
                pattern.text
            ),
        );
        return;
    }
    for m in matches {
        if let Err(e) = lex_file(&m, Some(&pattern.loc), toks, stack, diags) {
            diags.errors.push(e);
        }
    }
}

/// Split one line into words and braces; a `#` or `!` outside quotes ends the line.
fn lex_line(line: &str, file: &str, line_no: usize, out: &mut Vec<Tok>) -> Result<(), Diag> {
    let chars: Vec<char> = line.chars().collect();
    let loc = |col: usize| Location {
        file: file.to_string(),
        line: line_no,
        column: col + 1,
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' || c == '!' {
            break;
        } else if c == '{' {
            out.push(Tok::Open(loc(i)));
            i += 1;
        } else if c == '}' {
            out.push(Tok::Close(loc(i)));
            i += 1;
        } else if c == '"' {
            let start = i;
            let mut text = String::new();
            i += 1;
            let mut closed = false;
            while i < chars.len() {
                match chars[i] {
                    '\\' if i + 1 < chars.len() => {
                        text.push(chars[i + 1]);
                        i += 2;
                    }
                    '"' => {
                        closed = true;
                        i += 1;
                        break;
                    }
                    ch => {
                        text.push(ch);
                        i += 1;
                    }
                }
            }
            if !closed {
                return Err(Diag::new(
                    loc(start),
                    "unterminated quoted string".to_string(),
                ));
            }
            out.push(Tok::Word(Word {
                text,
                loc: loc(start),
                quoted: true,
            }));
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '{' | '}') {
                // A comment character glued to a word still starts a comment.
                if matches!(chars[i], '#' | '!') && i > start {
                    break;
                }
                i += 1;
            }
            out.push(Tok::Word(Word {
                text: chars[start..i].iter().collect(),
                loc: loc(start),
                quoted: false,
            }));
        }
    }
    Ok(())
}

/// Statements until the `}` that closes `open` (or the end, at top level).
fn parse_block(
    toks: &[Tok],
    pos: &mut usize,
    open: Option<&Location>,
    diags: &mut Diags,
) -> Vec<Statement> {
    let mut out: Vec<Statement> = Vec::new();
    let mut cur: Vec<Word> = Vec::new();
    while let Some(t) = toks.get(*pos) {
        *pos += 1;
        match t {
            Tok::Word(w) => cur.push(w.clone()),
            Tok::Eol => flush(&mut cur, &mut out),
            Tok::Open(at) => {
                // `keyword {` on one line, or `{` alone on the line after the keyword.
                if cur.is_empty() {
                    match out.last_mut() {
                        Some(prev) if prev.block.is_none() => {
                            let block = parse_block(toks, pos, Some(at), diags);
                            prev.block = Some(block);
                        }
                        _ => {
                            diags
                                .errors
                                .push(Diag::new(at.clone(), "`{` without a keyword".to_string()));
                            parse_block(toks, pos, Some(at), diags);
                        }
                    }
                } else {
                    let words = std::mem::take(&mut cur);
                    let block = parse_block(toks, pos, Some(at), diags);
                    out.push(Statement {
                        words,
                        block: Some(block),
                    });
                }
            }
            Tok::Close(at) => {
                flush(&mut cur, &mut out);
                if open.is_some() {
                    return out;
                }
                diags.errors.push(Diag::new(
                    at.clone(),
                    "`}` without a matching `{`".to_string(),
                ));
            }
        }
    }
    flush(&mut cur, &mut out);
    if let Some(at) = open {
        diags.errors.push(Diag::new(
            at.clone(),
            "this `{` is never closed (missing `}`)".to_string(),
        ));
    }
    out
}

fn flush(cur: &mut Vec<Word>, out: &mut Vec<Statement>) {
    if !cur.is_empty() {
        out.push(Statement {
            words: std::mem::take(cur),
            block: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &Statement) -> Vec<&str> {
        s.words.iter().map(|w| w.text.as_str()).collect()
    }

    #[test]
    fn blocks_comments_quotes_and_positions() {
        let text = "global_defs {   # comment\n  router_id r1 ! bang\n}\nvrrp_instance VI_1\n{\n\tinterface eth0\n  virtual_ipaddress { 10.0.0.1/24 dev eth0\n 10.0.0.2 }\n  notify \"/bin/n.sh a b\"\n}\n";
        let mut d = Diags::default();
        let st = read_str(text, "k.conf", &mut d);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_eq!(st.len(), 2);
        assert_eq!(words(&st[0]), ["global_defs"]);
        assert_eq!(words(&st[0].children()[0]), ["router_id", "r1"]);
        let vi = &st[1];
        assert_eq!(words(vi), ["vrrp_instance", "VI_1"]);
        let c = vi.children();
        assert_eq!(words(&c[0]), ["interface", "eth0"]);
        assert_eq!(c[0].loc().to_string(), "k.conf:6:2");
        let vips: Vec<Vec<&str>> = c[1].children().iter().map(words).collect();
        assert_eq!(vips, [vec!["10.0.0.1/24", "dev", "eth0"], vec!["10.0.0.2"]]);
        assert_eq!(words(&c[2]), ["notify", "/bin/n.sh a b"]);
        assert!(c[2].words[1].quoted);
    }

    #[test]
    fn unbalanced_braces_are_errors_with_positions() {
        let mut d = Diags::default();
        read_str("vrrp_instance A {\n interface eth0\n", "a.conf", &mut d);
        assert_eq!(
            d.errors[0].to_string(),
            "a.conf:1:17: this `{` is never closed (missing `}`)"
        );
        let mut d = Diags::default();
        read_str("}\n", "b.conf", &mut d);
        assert_eq!(
            d.errors[0].to_string(),
            "b.conf:1:1: `}` without a matching `{`"
        );
        let mut d = Diags::default();
        read_str("x \"open\n", "c.conf", &mut d);
        assert_eq!(
            d.errors[0].to_string(),
            "c.conf:1:3: unterminated quoted string"
        );
    }
}
