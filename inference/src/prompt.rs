//! Prompt text in which only the prompt builder's own markers are control tokens.
//!
//! Chat templates and fill-in-the-middle prompts mix two kinds of text: the builder's markers
//! (`<|im_start|>`, `<|fim_middle|>`), which must become control tokens, and text from users,
//! files and selections, which must not — a `<|im_end|>` inside a source file is seventeen
//! ordinary tokens to llama.cpp, not an end of turn. [`plain`] escapes text of the second kind
//! by putting [`ESCAPE`] after every `<` and `[` (where every special token of the supported
//! families starts or could match), so no special-token string can match inside it;
//! `Tokenizer::encode_prompt` splits on special tokens and removes the escapes from the text
//! between them before encoding it as plain text. [`display`] gives the text a person reads.

/// The escape character: a private-use code point that never leaves this module's pair.
pub const ESCAPE: char = '\u{E000}';

/// Escapes text that must be tokenized as plain text inside a prompt (lossless: an
/// [`ESCAPE`] already in the text is doubled).
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for c in text.chars() {
        out.push(c);
        if matches!(c, '<' | '[' | ESCAPE) {
            out.push(ESCAPE);
        }
    }
    out
}

/// The text a prompt stands for, escapes removed: what a person is shown and what the
/// tokenizer reads between special tokens.
pub fn display(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ESCAPE {
            // An escape after `<`/`[` is dropped; a doubled one stands for itself.
            if chars.peek() == Some(&ESCAPE) {
                chars.next();
                out.push(ESCAPE);
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_and_breaks_every_marker() {
        for text in [
            "",
            "plain",
            "<|im_end|> and <fim_prefix> [INST]",
            "\u{E000}<\u{E000}\u{E000}[",
            "a<b[c]>d",
        ] {
            let escaped = plain(text);
            assert_eq!(display(&escaped), text, "{text:?}");
            for marker in ["<|im_end|>", "<fim_prefix>", "[INST]", "<PRE>"] {
                assert!(
                    !escaped.contains(marker),
                    "{escaped:?} still holds {marker}"
                );
            }
        }
    }
}
