//! Large files: each `[[vrrp]]` parsed on its own (a chunk per router) instead of one
//! document holding every span at once, with positions mapped back to the whole file.

use super::*;

/// The byte ranges of the top-level `[[vrrp]]` tables, each up to the next header that is
/// not one of its own sub-tables (`[vrrp.x]`, `[[vrrp.x]]`). None when the headers are
/// written in a way this does not follow (quoted keys) or the text does not lex.
pub(super) fn router_chunks(text: &str) -> Option<Vec<Range<usize>>> {
    use toml_parser::lexer::TokenKind as K;
    let source = toml_parser::Source::new(text);
    let mut chunks: Vec<Range<usize>> = Vec::new();
    let mut open: Option<usize> = None;
    let mut depth = 0usize;
    let mut line_start = true;
    let mut tokens = source.lex().peekable();
    while let Some(token) = tokens.next() {
        let span = token.span();
        match token.kind() {
            K::Newline => line_start = true,
            K::Whitespace | K::Comment => {}
            K::LeftSquareBracket if line_start && depth == 0 => {
                // A header: `[` or `[[`, then the key, on this line.
                let start = span.start();
                let mut array = false;
                let mut first: Option<&str> = None;
                let mut quoted = false;
                while let Some(t) = tokens.peek() {
                    match t.kind() {
                        K::Newline | K::Eof | K::Comment => break,
                        K::LeftSquareBracket if first.is_none() => array = true,
                        K::Atom if first.is_none() => {
                            let word = text.get(t.span().start()..t.span().end())?;
                            first = word.split('.').next();
                        }
                        K::LiteralString
                        | K::BasicString
                        | K::MlLiteralString
                        | K::MlBasicString => quoted = true,
                        _ => {}
                    }
                    tokens.next();
                }
                if quoted {
                    return None;
                }
                let ours = first == Some("vrrp");
                if let Some(begin) = open
                    && (!ours || array && is_vrrp_array(text, start))
                {
                    chunks.push(begin..start);
                    open = None;
                }
                if ours && array && is_vrrp_array(text, start) {
                    open = Some(start);
                }
                line_start = false;
            }
            K::LeftSquareBracket | K::LeftCurlyBracket => {
                depth += 1;
                line_start = false;
            }
            K::RightSquareBracket | K::RightCurlyBracket => {
                depth = depth.saturating_sub(1);
                line_start = false;
            }
            K::Eof => break,
            _ => line_start = false,
        }
    }
    if let Some(begin) = open {
        chunks.push(begin..text.len());
    }
    Some(chunks)
}

/// `text` with the `chunks` made one comment per run of adjacent chunks, of the same byte
/// length (so every offset of the rest stays), up to the newline before the header that
/// ends the run. Blanked to white space instead, the lexer of the rest made two tokens per
/// line of every table: 2.6 MB at 4,000 routers for a moment, a reload's peak.
pub(super) fn blank_out(text: &str, chunks: &[Range<usize>]) -> Vec<u8> {
    let mut rest = text.as_bytes().to_vec();
    let mut at = 0;
    while at < chunks.len() {
        let start = chunks[at].start;
        let mut end = chunks[at].end;
        at += 1;
        while at < chunks.len() && chunks[at].start == end {
            end = chunks[at].end;
            at += 1;
        }
        // Before a header, the run ends with its line's newline and the header's indent.
        let keep = if end < rest.len() {
            rest[start..end]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(end, |i| start + i)
        } else {
            end
        };
        if keep > start {
            rest[start] = b'#';
            rest[start + 1..keep].fill(b' ');
        }
    }
    rest
}

/// Whether the header at `at` is exactly `[[vrrp]]` (white space allowed inside).
pub(super) fn is_vrrp_array(text: &str, at: usize) -> bool {
    let line = text[at..].split('\n').next().unwrap_or("");
    let line = line.split('#').next().unwrap_or("");
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    compact == "[[vrrp]]"
}

/// [`parse_str`] one `[[vrrp]]` table at a time: the rest of the file (the tables blanked
/// out, so every offset stays) is one document, each table its own. None: parse it whole.
pub(super) fn parse_chunked(
    text: &str,
    file: &str,
    chunks: &[Range<usize>],
) -> Option<Result<Config, ConfigErrors>> {
    let rest = String::from_utf8(blank_out(text, chunks)).ok()?;
    let doc = Document::parse(rest.as_str()).ok()?;
    if doc.as_table().contains_key("vrrp") {
        return None;
    }
    let mut checker = Checker::new(text, file);
    let config = match checker.document(doc.as_table(), Some((text, chunks))) {
        Ok(config) => config,
        Err(_) => return None,
    };
    Some(checker.finish(config))
}
