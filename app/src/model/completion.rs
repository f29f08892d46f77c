//! Inline completion rules that users of Continue and Tabby expect, browser-free: the prefix
//! and suffix windows around the cursor, and the post-processing of what the model wrote —
//! stop at a line limit or where the enclosing block ends, drop a completion that only
//! repeats the text after the cursor, and trim what overlaps it.

/// Characters of text before the cursor sent to the model.
pub const PREFIX_CHARS: usize = 3000;
/// Characters of text after the cursor.
pub const SUFFIX_CHARS: usize = 1000;
/// Lines a completion may have at most.
pub const MAX_LINES: usize = 8;

/// The prefix and suffix windows of `text` around byte offset `cursor` (clamped to
/// character boundaries; windows cut at line starts/ends where possible).
pub fn windows(text: &str, cursor: usize) -> (String, String) {
    let mut cursor = cursor.min(text.len());
    while !text.is_char_boundary(cursor) {
        cursor -= 1;
    }
    let (before, after) = text.split_at(cursor);
    let mut start = before.len().saturating_sub(PREFIX_CHARS);
    while !before.is_char_boundary(start) {
        start += 1;
    }
    if start > 0
        && let Some(line) = before[start..].find('\n')
    {
        start += line + 1;
    }
    let mut end = after.len().min(SUFFIX_CHARS);
    while !after.is_char_boundary(end) {
        end -= 1;
    }
    if end < after.len()
        && let Some(line) = after[..end].rfind('\n')
    {
        end = line + 1;
    }
    (before[start..].to_owned(), after[..end].to_owned())
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// What to show of `completion` at a cursor after `prefix` and before `suffix`, or `None`
/// when nothing useful is left.
pub fn clean(completion: &str, prefix: &str, suffix: &str) -> Option<String> {
    let current_line = prefix.rsplit('\n').next().unwrap_or("");
    // Indentation of the block the cursor is in: the current line's, or when the cursor
    // starts a fresh line, the line above's.
    let block_indent = if current_line.trim().is_empty() {
        prefix
            .trim_end_matches([' ', '\t'])
            .trim_end_matches('\n')
            .rsplit('\n')
            .next()
            .map(indent)
            .unwrap_or(0)
            .max(current_line.len())
    } else {
        indent(current_line)
    };
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in completion.split('\n').enumerate() {
        if i >= MAX_LINES {
            break;
        }
        // A later line that dedents below the block ends it.
        if i > 0 && !line.trim().is_empty() && indent(line) < block_indent {
            break;
        }
        kept.push(line);
    }
    while kept.len() > 1 && kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    let mut text = kept.join("\n");
    // Trim an end that the text after the cursor already has (e.g. a closing bracket).
    let next_line = suffix.split('\n').next().unwrap_or("");
    if !next_line.is_empty() && text.ends_with(next_line) && text.len() > next_line.len() {
        text.truncate(text.len() - next_line.len());
    }
    let repeats = {
        let t = text.trim();
        !t.is_empty() && suffix.trim_start().starts_with(t)
    };
    if text.trim().is_empty() || repeats {
        None
    } else {
        Some(text)
    }
}

/// The rest of a shown completion once the user typed `typed` at its start, if `typed` is
/// exactly what it predicted (so the pending completion is reused, not requested again).
pub fn type_ahead<'a>(shown: &'a str, typed: &str) -> Option<&'a str> {
    shown.strip_prefix(typed).filter(|rest| !rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cut_at_lines_and_char_boundaries() {
        let text = "ab\ncd\nef";
        assert_eq!(windows(text, 4), ("ab\nc".into(), "d\nef".into()));
        assert_eq!(windows(text, 100), (text.into(), String::new()));
        let long = format!("{}\nlast", "x".repeat(PREFIX_CHARS + 10));
        let (prefix, _) = windows(&long, long.len());
        assert_eq!(prefix, "last", "a cut window starts at a line start");
        let (p, s) = windows("é", 1);
        assert_eq!((p.as_str(), s.as_str()), ("", "é"));
    }

    #[test]
    fn stops_where_the_block_ends_and_at_the_line_limit() {
        let prefix = "def add(a, b):\n    ";
        let completion = "return a + b\n\ndef sub(a, b):\n    return a - b\n";
        assert_eq!(clean(completion, prefix, "\n"), Some("return a + b".into()));
        let many = (0..20)
            .map(|i| format!("    x{i} = {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let cleaned = clean(&many, "def f():\n    ", "").unwrap();
        assert_eq!(cleaned.lines().count(), MAX_LINES);
    }

    #[test]
    fn drops_repeats_of_the_suffix_and_trims_overlap() {
        assert_eq!(
            clean("b)", "f(a, ", "b)\n"),
            None,
            "only repeats what follows"
        );
        assert_eq!(
            clean("x, y)", "f(", ")"),
            Some("x, y".into()),
            "the closing bracket exists"
        );
        assert_eq!(clean("   \n  ", "x = ", ""), None);
        assert_eq!(clean("42", "x = ", "\n"), Some("42".into()));
    }

    #[test]
    fn typing_what_was_predicted_keeps_the_rest() {
        assert_eq!(type_ahead("return a + b", "ret"), Some("urn a + b"));
        assert_eq!(type_ahead("return a + b", "x"), None);
        assert_eq!(type_ahead("abc", "abc"), None);
    }
}
