//! Fill-in-the-middle prompts: the model writes what goes between the text before the cursor
//! and the text after it. The format is detected from the model's vocabulary; prefix and
//! suffix are escaped ([`crate::prompt::plain`]) so only the format's markers are control
//! tokens.

use crate::prompt::plain;
use crate::tokenizer::Tokenizer;

/// A fill-in-the-middle marker set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FimFormat {
    /// Qwen2.5-Coder: `<|fim_prefix|>…<|fim_suffix|>…<|fim_middle|>`.
    Qwen,
    /// StarCoder / StarCoder2 / SantaCoder: `<fim_prefix>…<fim_suffix>…<fim_middle>`.
    StarCoder,
    /// CodeLlama: `<PRE> … <SUF>… <MID>` (spaces as Meta's reference code puts them).
    CodeLlama,
    /// DeepSeek-Coder: `<｜fim▁begin｜>…<｜fim▁hole｜>…<｜fim▁end｜>`.
    DeepSeek,
}

impl FimFormat {
    /// Every format, in detection order.
    pub const ALL: [FimFormat; 4] = [
        FimFormat::Qwen,
        FimFormat::StarCoder,
        FimFormat::CodeLlama,
        FimFormat::DeepSeek,
    ];

    /// The prefix, suffix and middle markers.
    pub fn markers(self) -> [&'static str; 3] {
        match self {
            FimFormat::Qwen => ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"],
            FimFormat::StarCoder => ["<fim_prefix>", "<fim_suffix>", "<fim_middle>"],
            FimFormat::CodeLlama => ["<PRE>", "<SUF>", "<MID>"],
            FimFormat::DeepSeek => ["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"],
        }
    }

    /// Markers that end a completion besides the end-of-sequence token.
    pub fn stop_markers(self) -> &'static [&'static str] {
        match self {
            FimFormat::Qwen => &["<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|im_end|>"],
            FimFormat::StarCoder => &["<|endoftext|>", "<file_sep>"],
            FimFormat::CodeLlama => &["<EOT>"],
            FimFormat::DeepSeek => &["<｜end▁of▁sentence｜>", "<|EOT|>"],
        }
    }

    /// A short name for the UI.
    pub fn name(self) -> &'static str {
        match self {
            FimFormat::Qwen => "qwen",
            FimFormat::StarCoder => "starcoder",
            FimFormat::CodeLlama => "codellama",
            FimFormat::DeepSeek => "deepseek",
        }
    }

    /// The format whose three markers are all tokens of `tokenizer`'s vocabulary (CodeLlama's
    /// SentencePiece vocabulary spells them with a leading `▁`).
    pub fn detect(tokenizer: &Tokenizer) -> Option<Self> {
        Self::detect_in(|text| {
            tokenizer.token_id(text).is_some()
                || tokenizer.token_id(&format!("\u{2581}{text}")).is_some()
        })
    }

    /// [`FimFormat::detect`] over any vocabulary lookup.
    pub fn detect_in(has_token: impl Fn(&str) -> bool) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.markers().iter().all(|m| has_token(m)))
    }

    /// The prompt for `prefix` (text before the cursor) and `suffix` (text after it).
    pub fn prompt(self, prefix: &str, suffix: &str) -> String {
        let [pre, suf, mid] = self.markers();
        let (prefix, suffix) = (plain(prefix), plain(suffix));
        match self {
            FimFormat::CodeLlama => format!("{pre} {prefix} {suf}{suffix} {mid}"),
            _ => format!("{pre}{prefix}{suf}{suffix}{mid}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::display;

    #[test]
    fn each_format_builds_its_exact_prompt() {
        let (prefix, suffix) = ("def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n");
        let expected = [
            (
                FimFormat::Qwen,
                "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>",
            ),
            (
                FimFormat::StarCoder,
                "<fim_prefix>def add(a, b):\n    return <fim_suffix>\n\nprint(add(1, 2))\n<fim_middle>",
            ),
            (
                FimFormat::CodeLlama,
                "<PRE> def add(a, b):\n    return  <SUF>\n\nprint(add(1, 2))\n <MID>",
            ),
            (
                FimFormat::DeepSeek,
                "<｜fim▁begin｜>def add(a, b):\n    return <｜fim▁hole｜>\n\nprint(add(1, 2))\n<｜fim▁end｜>",
            ),
        ];
        for (format, text) in expected {
            assert_eq!(display(&format.prompt(prefix, suffix)), text, "{format:?}");
        }
    }

    #[test]
    fn markers_inside_the_buffer_stay_text() {
        let prompt = FimFormat::Qwen.prompt("a <|fim_middle|> b", "<|endoftext|>");
        assert_eq!(prompt.matches("<|fim_middle|>").count(), 1);
        assert!(!prompt.contains("<|endoftext|>"));
    }

    #[test]
    fn detection_needs_all_three_markers() {
        let vocab = |tokens: &'static [&'static str]| move |t: &str| tokens.contains(&t);
        assert_eq!(
            FimFormat::detect_in(vocab(&[
                "<|fim_prefix|>",
                "<|fim_suffix|>",
                "<|fim_middle|>"
            ])),
            Some(FimFormat::Qwen)
        );
        assert_eq!(
            FimFormat::detect_in(vocab(&["<fim_prefix>", "<fim_suffix>", "<fim_middle>"])),
            Some(FimFormat::StarCoder)
        );
        assert_eq!(
            FimFormat::detect_in(vocab(&[
                "<｜fim▁begin｜>",
                "<｜fim▁hole｜>",
                "<｜fim▁end｜>"
            ])),
            Some(FimFormat::DeepSeek)
        );
        assert_eq!(
            FimFormat::detect_in(vocab(&["<PRE>", "<SUF>", "<MID>"])),
            Some(FimFormat::CodeLlama)
        );
        assert_eq!(
            FimFormat::detect_in(vocab(&["<|fim_prefix|>", "<|fim_middle|>"])),
            None
        );
        assert_eq!(FimFormat::detect_in(vocab(&["<|im_start|>"])), None);
    }
}
