//! Chat prompts, browser-free: what a question with attached files becomes as chat
//! messages, and the stated rule that trims it to the model's context.
//!
//! Trimming rule (shown to the user whenever it applies): keep the system prompt and the
//! question whole; drop the oldest earlier turns first; then shorten the largest attached
//! file from its end, keeping its first lines and saying how many were cut. A question that
//! alone does not fit is refused.

use airlock_inference::chat::Message;

/// Tokens kept free for the answer (at most a quarter of the context).
pub const ANSWER_RESERVE: usize = 256;

/// A file or selection attached to a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// What the user sees: `src/main.rs` or `src/main.rs (selection)`.
    pub label: String,
    /// The text attached.
    pub text: String,
}

/// An earlier turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// `user` or `assistant`.
    pub role: String,
    /// Its text as sent (a user turn includes its attachments).
    pub content: String,
}

/// The user message for `question` with `attachments` before it, each in a fenced block.
pub fn user_message(question: &str, attachments: &[Attachment]) -> String {
    let mut out = String::new();
    for a in attachments {
        let fence = if a.text.contains("```") {
            "````"
        } else {
            "```"
        };
        out.push_str(&format!("{}:\n{fence}\n{}", a.label, a.text));
        if !a.text.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(fence);
        out.push_str("\n\n");
    }
    out.push_str(question);
    out
}

/// Messages that fit, and what trimming did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// System prompt, kept history, and the question with its attachments.
    pub messages: Vec<Message>,
    /// Plain-words notes of each trim, for the user.
    pub notes: Vec<String>,
}

/// Builds the messages for a question, trimmed to `context` tokens (minus
/// [`ANSWER_RESERVE`], or a quarter of a small context) by the module's rule; `count` counts
/// the tokens of a text.
pub fn build(
    system: &str,
    history: &[Turn],
    attachments: &[Attachment],
    question: &str,
    context: usize,
    count: &dyn Fn(&str) -> usize,
) -> Result<Built, String> {
    let budget = context - ANSWER_RESERVE.min(context / 4);
    // Per-message overhead of the template's markers, a small constant.
    let overhead = 8;
    let fixed = count(system) + count(question) + 2 * overhead;
    if fixed > budget {
        return Err(format!(
            "the question needs about {fixed} tokens but the model's context leaves {budget}; shorten it"
        ));
    }
    let mut notes = Vec::new();
    let mut attachments = attachments.to_vec();
    let sizes = |history: &[Turn], attachments: &[Attachment]| {
        fixed
            + history
                .iter()
                .map(|t| count(&t.content) + overhead)
                .sum::<usize>()
            + attachments
                .iter()
                .map(|a| count(&a.text) + count(&a.label) + 4)
                .sum::<usize>()
    };
    let mut start = 0;
    while sizes(&history[start..], &attachments) > budget && start < history.len() {
        start += 1;
    }
    if start > 0 {
        notes.push(format!(
            "{start} earlier message{} left out to fit the model's context",
            if start == 1 { " was" } else { "s were" }
        ));
    }
    let history = &history[start..];
    // Each attachment's original lines and how many of them are kept.
    let originals: Vec<Vec<String>> = attachments
        .iter()
        .map(|a| a.text.lines().map(str::to_owned).collect())
        .collect();
    let mut kept: Vec<Option<usize>> = originals.iter().map(|l| Some(l.len())).collect();
    while sizes(history, &attachments) > budget {
        let Some(largest) = (0..attachments.len())
            .filter(|&i| kept[i].is_some())
            .max_by_key(|&i| attachments[i].text.len())
        else {
            break;
        };
        let lines = &originals[largest];
        let keep = kept[largest].unwrap_or(0) * 3 / 4;
        let label = attachments[largest].label.clone();
        if keep == 0 {
            notes.push(format!(
                "{label} was left out: it does not fit the model's context"
            ));
            kept[largest] = None;
            attachments[largest].text.clear();
            continue;
        }
        kept[largest] = Some(keep);
        let cut = lines.len() - keep;
        attachments[largest].text = format!(
            "{}\n[… {cut} more line{} not sent: the model's context is full]\n",
            lines[..keep].join("\n"),
            if cut == 1 { "" } else { "s" }
        );
        let note = format!("{label} was shortened to fit the model's context");
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    let attachments: Vec<Attachment> = attachments
        .into_iter()
        .zip(&kept)
        .filter(|(_, k)| k.is_some())
        .map(|(a, _)| a)
        .collect();
    let mut messages = vec![Message::new("system", system)];
    messages.extend(history.iter().map(|t| Message::new(&t.role, &t.content)));
    messages.push(Message::new("user", &user_message(question, &attachments)));
    Ok(Built { messages, notes })
}

/// The `@word` being typed at the end of `before_caret`, if any (`@` at a word start).
pub fn mention(before_caret: &str) -> Option<&str> {
    let at = before_caret.rfind('@')?;
    let word = &before_caret[at + 1..];
    let starts_word = before_caret[..at]
        .chars()
        .next_back()
        .is_none_or(char::is_whitespace);
    (starts_word && !word.contains(char::is_whitespace)).then_some(word)
}

/// Up to `limit` of `files` matching `query`: names starting with it first, then paths
/// containing it (case-insensitive).
pub fn matching_files(files: &[String], query: &str, limit: usize) -> Vec<String> {
    let q = query.to_lowercase();
    let name = |p: &str| p.rsplit('/').next().unwrap_or(p).to_lowercase();
    let mut first: Vec<&String> = files.iter().filter(|f| name(f).starts_with(&q)).collect();
    let rest = files
        .iter()
        .filter(|f| !name(f).starts_with(&q) && f.to_lowercase().contains(&q));
    first.extend(rest);
    first.into_iter().take(limit).cloned().collect()
}

/// The label of an attached selection: `path (lines A-B)`.
pub fn selection_label(path: &str, from: u32, to: u32) -> String {
    format!("{path} (lines {from}-{to})")
}

/// The path and line range of an attachment label.
pub fn parse_label(label: &str) -> (String, Option<(usize, usize)>) {
    if let Some((path, rest)) = label.rsplit_once(" (lines ")
        && let Some((from, to)) = rest.trim_end_matches(')').split_once('-')
        && let (Ok(from), Ok(to)) = (from.parse(), to.parse())
    {
        return (path.to_owned(), Some((from, to)));
    }
    (label.to_owned(), None)
}

/// `old` with a code block applied: lines `from..=to` (1-based) replaced when a selection
/// was attached, else the whole text.
pub fn apply_block(old: &str, code: &str, lines: Option<(usize, usize)>) -> String {
    let Some((from, to)) = lines else {
        return code.to_owned();
    };
    let mut out = String::new();
    for (i, line) in old.split_inclusive('\n').enumerate() {
        let n = i + 1;
        if n == from {
            out.push_str(code);
            if !code.ends_with('\n') && line.ends_with('\n') {
                out.push('\n');
            }
        }
        if n < from || n > to {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_file_matches() {
        assert_eq!(mention("look at @ma"), Some("ma"));
        assert_eq!(mention("@"), Some(""));
        assert_eq!(mention("mail me@host"), None);
        assert_eq!(mention("@main.rs then"), None);
        let files = vec![
            "src/main.rs".to_owned(),
            "docs/domain.md".to_owned(),
            "Makefile".to_owned(),
        ];
        assert_eq!(
            matching_files(&files, "ma", 5),
            vec!["src/main.rs", "Makefile", "docs/domain.md"]
        );
        assert_eq!(matching_files(&files, "zz", 5), Vec::<String>::new());
    }

    #[test]
    fn applying_a_block_to_a_selection_or_a_file() {
        let old = "a\nb\nc\nd\n";
        assert_eq!(apply_block(old, "X\nY\n", Some((2, 3))), "a\nX\nY\nd\n");
        assert_eq!(apply_block(old, "X", Some((4, 4))), "a\nb\nc\nX\n");
        assert_eq!(apply_block(old, "new\n", None), "new\n");
        assert_eq!(
            parse_label(&selection_label("src/a b.rs", 2, 3)),
            ("src/a b.rs".into(), Some((2, 3)))
        );
        assert_eq!(parse_label("src/x.rs"), ("src/x.rs".into(), None));
    }

    fn words(text: &str) -> usize {
        text.split_whitespace().count()
    }

    fn file(label: &str, lines: usize) -> Attachment {
        Attachment {
            label: label.into(),
            text: (0..lines).map(|i| format!("line {i}\n")).collect(),
        }
    }

    #[test]
    fn attachments_come_before_the_question_in_fences() {
        let text = user_message("Why?", &[file("a.py", 2)]);
        assert_eq!(text, "a.py:\n```\nline 0\nline 1\n```\n\nWhy?");
        let nested = user_message(
            "?",
            &[Attachment {
                label: "r.md".into(),
                text: "```x```".into(),
            }],
        );
        assert!(nested.starts_with("r.md:\n````\n```x```\n````"), "{nested}");
    }

    #[test]
    fn everything_fits_untouched() {
        let history = vec![Turn {
            role: "user".into(),
            content: "hi".into(),
        }];
        let built = build("sys", &history, &[file("a.py", 3)], "q", 2048, &words).unwrap();
        assert!(built.notes.is_empty());
        assert_eq!(built.messages.len(), 3);
        assert_eq!(built.messages[0].role, "system");
        assert!(built.messages[2].content.contains("line 2"));
    }

    #[test]
    fn oldest_turns_go_first_then_files_shrink() {
        let history: Vec<Turn> = (0..10)
            .map(|i| Turn {
                role: if i % 2 == 0 { "user" } else { "assistant" }.into(),
                content: "word ".repeat(40),
            })
            .collect();
        let built = build("sys", &history, &[], "q", 256 + 300, &words).unwrap();
        assert!(built.messages.len() < 12, "some history dropped");
        assert!(
            built.notes[0].contains("earlier messages were left out"),
            "{:?}",
            built.notes
        );
        // The newest turns are the ones kept.
        assert_eq!(
            built.messages.len() - 2,
            built.messages[1..built.messages.len() - 1].len()
        );

        let built = build("sys", &[], &[file("big.rs", 400)], "q", 256 + 300, &words).unwrap();
        assert_eq!(
            built.notes,
            vec!["big.rs was shortened to fit the model's context"]
        );
        let sent = &built.messages[1].content;
        assert!(sent.contains("line 0") && !sent.contains("line 399"));
        assert!(sent.contains("more lines not sent"));
        assert!(words(sent) <= 556 - 556 / 4);

        assert!(build("sys", &[], &[], &"w ".repeat(500), 512, &words).is_err());

        // Small files shrink to nothing rather than loop; the note says so.
        let tight = build("sys", &[], &[file("small.rs", 4)], "q", 24, &words).unwrap();
        assert_eq!(tight.messages[1].content, "q");
        assert!(
            tight
                .notes
                .iter()
                .any(|n| n.contains("small.rs was left out")),
            "{:?}",
            tight.notes
        );
    }
}
