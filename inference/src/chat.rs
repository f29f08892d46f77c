//! Prompt formats: ChatML (Qwen, SmolLM2), Llama 3 chat, and Qwen2.5-Coder's fill-in-the-middle,
//! chosen from the chat template a GGUF file carries.

/// A chat turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A turn from role and text.
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A chat prompt format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatFormat {
    /// `<|im_start|>role\n…<|im_end|>\n`, with the system prompt the template adds by default.
    ChatMl {
        /// System prompt inserted when the conversation has none.
        default_system: Option<String>,
    },
    /// `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>`.
    Llama3,
}

impl ChatFormat {
    /// Recognises the format of a Jinja chat template (`tokenizer.chat_template`).
    pub fn from_template(template: &str) -> Option<Self> {
        if template.contains("<|start_header_id|>") {
            return Some(ChatFormat::Llama3);
        }
        if !template.contains("<|im_start|>") {
            return None;
        }
        let default_system = ["<|im_start|>system\n", "<|im_start|>system\\n"]
            .iter()
            .flat_map(|marker| template.match_indices(marker))
            .find_map(|(at, marker)| {
                let rest = &template[at + marker.len()..];
                let text = &rest[..rest.find("<|im_end|>")?];
                (!text.contains('{') && !text.contains('\'') && !text.is_empty())
                    .then(|| text.replace("\\n", "\n"))
            });
        Some(ChatFormat::ChatMl { default_system })
    }

    /// The prompt text for `messages`, ending where the assistant's answer starts.
    pub fn render(&self, messages: &[Message]) -> String {
        let mut out = String::new();
        match self {
            ChatFormat::ChatMl { default_system } => {
                if let Some(system) = default_system
                    && messages.first().is_none_or(|m| m.role != "system")
                {
                    out.push_str(&format!("<|im_start|>system\n{system}<|im_end|>\n"));
                }
                for m in messages {
                    out.push_str(&format!(
                        "<|im_start|>{}\n{}<|im_end|>\n",
                        m.role, m.content
                    ));
                }
                out.push_str("<|im_start|>assistant\n");
            }
            ChatFormat::Llama3 => {
                out.push_str("<|begin_of_text|>");
                for m in messages {
                    out.push_str(&format!(
                        "<|start_header_id|>{}<|end_header_id|>\n\n{}<|eot_id|>",
                        m.role,
                        m.content.trim()
                    ));
                }
                out.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }
        }
        out
    }

    /// Tokens (as text) that end an assistant turn.
    pub fn stop_tokens(&self) -> &'static [&'static str] {
        match self {
            ChatFormat::ChatMl { .. } => &["<|im_end|>", "<|endoftext|>"],
            ChatFormat::Llama3 => &["<|eot_id|>", "<|end_of_text|>"],
        }
    }
}

/// Qwen2.5-Coder's fill-in-the-middle prompt: the model writes what goes between.
pub fn fim_prompt(prefix: &str, suffix: &str) -> String {
    format!("<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_with_the_templates_default_system_prompt() {
        let template = "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}";
        let format = ChatFormat::from_template(template).unwrap();
        assert_eq!(
            format.render(&[Message::new("user", "Hi")]),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            format.render(&[
                Message::new("system", "Be brief."),
                Message::new("user", "Hi")
            ]),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn default_system_prompt_with_literal_newlines() {
        let template = "{{ '<|im_start|>system\nYou are Qwen.<|im_end|>\n' }}{{ '<|im_start|>' }}";
        assert_eq!(
            ChatFormat::from_template(template),
            Some(ChatFormat::ChatMl {
                default_system: Some("You are Qwen.".into())
            })
        );
    }

    #[test]
    fn llama3_and_fim() {
        let format = ChatFormat::from_template("{{ '<|start_header_id|>' }}").unwrap();
        assert_eq!(
            format.render(&[Message::new("user", "Hi ")]),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        assert_eq!(
            fim_prompt("def f(", "):\n"),
            "<|fim_prefix|>def f(<|fim_suffix|>):\n<|fim_middle|>"
        );
        assert_eq!(ChatFormat::from_template("{{ bos_token }}"), None);
    }
}
