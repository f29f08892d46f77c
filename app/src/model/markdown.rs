//! An answer's Markdown as blocks the chat panel renders: prose as HTML (CommonMark by
//! `pulldown-cmark`, with any raw HTML from the model shown as text, never as markup) and
//! fenced code blocks kept apart, so each gets highlighting and its copy / insert / apply
//! buttons.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd, html};

/// One piece of a rendered answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Prose, as safe HTML.
    Html(String),
    /// A code block: its language tag (may be empty) and its text.
    Code {
        /// The fence's info string's first word (`python`, `rust`, …).
        lang: String,
        /// The code, ending in a newline when the fence had lines.
        code: String,
    },
}

/// Splits `markdown` into prose and code blocks. An unclosed fence (an answer still
/// streaming) is a code block with what has arrived so far.
pub fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut prose: Vec<Event<'_>> = Vec::new();
    let mut code: Option<(String, String)> = None;
    let flush = |prose: &mut Vec<Event<'_>>, out: &mut Vec<Block>| {
        if prose.is_empty() {
            return;
        }
        let mut text = String::new();
        html::push_html(&mut text, prose.drain(..));
        if !text.trim().is_empty() {
            out.push(Block::Html(text));
        }
    };
    for event in Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    ) {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                flush(&mut prose, &mut out);
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split_whitespace().next().unwrap_or("").to_owned()
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                code = Some((lang, String::new()));
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((lang, text)) = code.take() {
                    out.push(Block::Code { lang, code: text });
                }
            }
            Event::Text(text) if code.is_some() => {
                if let Some((_, body)) = code.as_mut() {
                    body.push_str(&text);
                }
            }
            // The model's raw HTML is shown as text.
            Event::Html(raw) | Event::InlineHtml(raw) => prose.push(Event::Text(raw)),
            other => prose.push(other),
        }
    }
    if let Some((lang, text)) = code.take() {
        out.push(Block::Code { lang, code: text });
    }
    flush(&mut prose, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_and_code_blocks() {
        let answer = "Use **this**:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nDone.";
        let parts = blocks(answer);
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert_eq!(
            parts[0],
            Block::Html("<p>Use <strong>this</strong>:</p>\n".into())
        );
        assert_eq!(
            parts[1],
            Block::Code {
                lang: "python".into(),
                code: "def add(a, b):\n    return a + b\n".into()
            }
        );
        assert_eq!(parts[2], Block::Html("<p>Done.</p>\n".into()));
    }

    #[test]
    fn raw_html_is_text_and_unclosed_fences_stream() {
        let parts = blocks("<img src=x onerror=alert(1)> <b>hi</b>");
        let Block::Html(html) = &parts[0] else {
            panic!("{parts:?}")
        };
        assert!(!html.contains("<img") && !html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;img"), "{html}");
        let streaming = blocks("Here:\n```rust\nfn main() {");
        assert_eq!(
            streaming.last(),
            Some(&Block::Code {
                lang: "rust".into(),
                code: "fn main() {".into()
            })
        );
    }
}
