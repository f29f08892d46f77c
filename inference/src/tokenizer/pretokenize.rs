//! llama.cpp's pre-tokenization: the text is cut into pieces that BPE never merges across.
//! `gpt2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
//! `smollm` (and starcoder-like types): each digit is first cut out on its own.
//! `llama3` / `qwen2`: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,k}|
//! ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` with k = 3 (Llama 3) or 1 (Qwen2).

use regex::Regex;
use std::sync::LazyLock;

static LETTER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\p{L}$").expect("valid"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\p{N}$").expect("valid"));

/// Which pre-tokenization a vocabulary expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreTokenizer {
    /// Plain GPT-2.
    Gpt2,
    /// Single digits first, then GPT-2 (SmolLM, StarCoder, Refact, CodeShell).
    DigitsThenGpt2,
    /// Llama 3 style, numbers cut into runs of at most this many digits (3; Qwen2 uses 1).
    Llama3 {
        /// Longest digit run kept together.
        max_digits: usize,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    let mut buffer = [0u8; 4];
    let text = c.encode_utf8(&mut buffer);
    if c.is_whitespace() {
        Class::Space
    } else if c.is_ascii_alphabetic() || (!c.is_ascii() && LETTER.is_match(text)) {
        Class::Letter
    } else if c.is_ascii_digit() || (!c.is_ascii() && NUMBER.is_match(text)) {
        Class::Number
    } else {
        Class::Other
    }
}

impl PreTokenizer {
    /// The pre-tokenizer for a GGUF `tokenizer.ggml.pre` name.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "gpt2" | "default" | "mpt" | "olmo" => Some(PreTokenizer::Gpt2),
            "smollm" | "starcoder" | "refact" | "codeshell" => Some(PreTokenizer::DigitsThenGpt2),
            "llama3" | "llama-v3" | "llama-bpe" => Some(PreTokenizer::Llama3 { max_digits: 3 }),
            "qwen2" | "deepseek-r1-qwen" => Some(PreTokenizer::Llama3 { max_digits: 1 }),
            _ => None,
        }
    }

    /// Cuts `text` into pieces.
    pub fn split<'a>(&self, text: &'a str) -> Vec<&'a str> {
        match self {
            PreTokenizer::Gpt2 => gpt2(text),
            PreTokenizer::DigitsThenGpt2 => {
                split_numbers(text).into_iter().flat_map(gpt2).collect()
            }
            PreTokenizer::Llama3 { max_digits } => llama3(text, *max_digits),
        }
    }
}

/// Every single `\p{N}` character becomes its own piece; the text between stays whole.
fn split_numbers(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if class(c) == Class::Number {
            if start < at {
                pieces.push(&text[start..at]);
            }
            pieces.push(&text[at..at + c.len_utf8()]);
            start = at + c.len_utf8();
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// The GPT-2 split of one fragment (no lookahead across fragments, as in llama.cpp).
fn gpt2(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|(_, c)| *c);
    let offset = |i: usize| chars.get(i).map(|(o, _)| *o).unwrap_or(text.len());
    let mut pieces = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        let start = pos;
        let c = chars[pos].1;
        // 's 't 're 've 'm 'll 'd
        if c == '\'' {
            let next = at(pos + 1);
            let two = (next, at(pos + 2));
            let len = match two {
                (Some('s' | 't' | 'm' | 'd'), _) => 2,
                (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => 3,
                _ => 0,
            };
            if len > 0 {
                pos += len;
                pieces.push(&text[offset(start)..offset(pos)]);
                continue;
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
        let lead = usize::from(c == ' ' && at(pos + 1).is_some_and(|n| class(n) != Class::Space));
        let kind = at(pos + lead).map(class);
        if let Some(kind @ (Class::Letter | Class::Number | Class::Other)) = kind {
            pos += lead;
            while at(pos).is_some_and(|n| class(n) == kind) {
                pos += 1;
            }
            pieces.push(&text[offset(start)..offset(pos)]);
            continue;
        }
        // `\s+(?!\S)` then `\s+`
        let mut end = pos;
        while at(end).is_some_and(|n| class(n) == Class::Space) {
            end += 1;
        }
        if end - pos > 1 && at(end).is_some() {
            end -= 1;
        }
        pos = end.max(pos + 1);
        pieces.push(&text[offset(start)..offset(pos)]);
    }
    pieces
}

fn is_newline(c: char) -> bool {
    c == '\r' || c == '\n'
}

/// The Llama 3 / Qwen2 split.
fn llama3(text: &str, max_digits: usize) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|(_, c)| *c);
    let offset = |i: usize| chars.get(i).map(|(o, _)| *o).unwrap_or(text.len());
    let kind = |i: usize| at(i).map(class);
    let mut pieces = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        let start = pos;
        let c = chars[pos].1;
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if c == '\'' {
            let lower = |i: usize| at(i).map(|c| c.to_ascii_lowercase());
            let len = match (lower(pos + 1), lower(pos + 2)) {
                (Some('s' | 't' | 'm' | 'd'), _) => 2,
                (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => 3,
                _ => 0,
            };
            if len > 0 {
                pos += len;
                pieces.push(&text[offset(start)..offset(pos)]);
                continue;
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        let lead = usize::from(
            !is_newline(c)
                && !matches!(class(c), Class::Letter | Class::Number)
                && kind(pos + 1) == Some(Class::Letter),
        );
        if kind(pos + lead) == Some(Class::Letter) {
            pos += lead;
            while kind(pos) == Some(Class::Letter) {
                pos += 1;
            }
            pieces.push(&text[offset(start)..offset(pos)]);
            continue;
        }
        // \p{N}{1,k}
        if class(c) == Class::Number {
            while kind(pos) == Some(Class::Number) && pos - start < max_digits {
                pos += 1;
            }
            pieces.push(&text[offset(start)..offset(pos)]);
            continue;
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        let lead = usize::from(c == ' ' && kind(pos + 1) == Some(Class::Other));
        if kind(pos + lead) == Some(Class::Other) {
            pos += lead;
            while kind(pos) == Some(Class::Other) {
                pos += 1;
            }
            while at(pos).is_some_and(is_newline) {
                pos += 1;
            }
            pieces.push(&text[offset(start)..offset(pos)]);
            continue;
        }
        // \s*[\r\n]+ : up to the last newline of the whitespace run
        let mut end = pos;
        let mut last_newline = None;
        while kind(end) == Some(Class::Space) {
            if at(end).is_some_and(is_newline) {
                last_newline = Some(end);
            }
            end += 1;
        }
        if let Some(last) = last_newline {
            pos = last + 1;
        } else {
            // \s+(?!\S) then \s+
            if end - pos > 1 && at(end).is_some() {
                end -= 1;
            }
            pos = end.max(pos + 1);
        }
        pieces.push(&text[offset(start)..offset(pos)]);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_gpt2() {
        assert_eq!(
            gpt2("Hello world, it's  me!\n\nok"),
            [
                "Hello", " world", ",", " it", "'s", " ", " me", "!", "\n", "\n", "ok"
            ]
        );
        assert_eq!(gpt2("a   b"), ["a", "  ", " b"]);
        assert_eq!(gpt2("end  "), ["end", "  "]);
        assert_eq!(
            PreTokenizer::DigitsThenGpt2.split("x=123"),
            ["x", "=", "1", "2", "3"]
        );
    }

    #[test]
    fn splits_like_llama3_and_qwen2() {
        let llama3 = PreTokenizer::Llama3 { max_digits: 3 };
        assert_eq!(
            llama3.split("fn main() {\n    let x = 12345;\n}"),
            [
                "fn", " main", "()", " {\n", "   ", " let", " x", " =", " ", "123", "45", ";\n",
                "}"
            ]
        );
        assert_eq!(llama3.split("I'M here"), ["I", "'M", " here"]);
        assert_eq!(llama3.split("a \n\n b"), ["a", " \n\n", " b"]);
        let qwen2 = PreTokenizer::Llama3 { max_digits: 1 };
        assert_eq!(qwen2.split("x=42"), ["x", "=", "4", "2"]);
    }
}
