//! Chat prompts rendered from the model's own Jinja chat template
//! (`tokenizer.chat_template`) by a real Jinja engine, `minijinja`, set up as Hugging Face's
//! `transformers` sets up Jinja (`trim_blocks`, `lstrip_blocks`, loop controls,
//! `raise_exception`, Python string methods, a `tojson` with Python's separators) so a
//! template renders as `apply_chat_template` renders it. Message text is escaped with
//! [`crate::prompt::plain`] before rendering: only the template's own markers become control
//! tokens. A model without a template gets [`ChatTemplate::fallback`] (ChatML).

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use minijinja::{Environment, Error, ErrorKind, context};
use serde::Serialize;

use crate::prompt;
use crate::tool_calls::{self, ToolCall};

/// A chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text.
    pub content: String,
    /// The tools an assistant turn called, as templates read them
    /// (`{"type": "function", "function": {"name", "arguments"}}`).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_functions")]
    pub tool_calls: Vec<ToolCall>,
    /// Which call a `tool` turn answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A turn from role and text.
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

fn as_functions<S: serde::Serializer>(calls: &[ToolCall], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Function<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        function: &'a ToolCall,
    }
    s.collect_seq(calls.iter().map(|function| Function {
        kind: "function",
        function,
    }))
}

/// Escapes every string inside a JSON value as [`prompt::plain`] text.
fn plain_json(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(prompt::plain(s)),
        serde_json::Value::Array(items) => items.iter().map(plain_json).collect(),
        serde_json::Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| (prompt::plain(k), plain_json(v)))
            .collect(),
        other => other.clone(),
    }
}

/// Why a chat prompt could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatError(pub String);

impl std::fmt::Display for ChatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chat template: {}", self.0)
    }
}

impl std::error::Error for ChatError {}

/// The documented fallback for models without a template: ChatML, the format of the Qwen
/// and SmolLM families, with no default system prompt.
pub const FALLBACK_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// End-of-turn markers that stop an answer when the template uses them.
const END_OF_TURN: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
];

/// A model's chat template, compiled once.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos_token: String,
    eos_token: String,
    /// Whether this is [`FALLBACK_TEMPLATE`] rather than the model's own.
    pub fallback: bool,
}

impl Clone for ChatTemplate {
    fn clone(&self) -> Self {
        Self::build(
            self.source.clone(),
            self.bos_token.clone(),
            self.eos_token.clone(),
            self.fallback,
        )
        .expect("a template that compiled once compiles again")
    }
}

impl ChatTemplate {
    /// Compiles `source` (a Jinja chat template); `bos_token`/`eos_token` are the strings
    /// templates see under those names.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, ChatError> {
        Self::build(source.into(), bos_token.into(), eos_token.into(), false)
    }

    /// [`FALLBACK_TEMPLATE`], for a model that carries no template.
    pub fn fallback(bos_token: &str, eos_token: &str) -> Self {
        Self::build(
            FALLBACK_TEMPLATE.into(),
            bos_token.into(),
            eos_token.into(),
            true,
        )
        .expect("the fallback template compiles")
    }

    fn build(
        source: String,
        bos_token: String,
        eos_token: String,
        fallback: bool,
    ) -> Result<Self, ChatError> {
        let mut env = Environment::new();
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<Value, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_filter("tojson", python_json);
        env.add_template_owned("chat", source.clone())
            .map_err(|e| ChatError(e.to_string()))?;
        Ok(Self {
            env,
            source,
            bos_token,
            eos_token,
            fallback,
        })
    }

    /// The Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The prompt for `messages` (message text escaped as plain text; see
    /// [`crate::prompt`]), ending where the assistant's answer starts when
    /// `add_generation_prompt` is set.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        self.render_with_tools(messages, &[], add_generation_prompt)
    }

    /// Whether the template declares tools itself (reads `tools`, as Qwen2.5's does).
    pub fn supports_tools(&self) -> bool {
        !self.fallback && self.source.contains("tools")
    }

    /// As [`Self::render`], with the agent's `tools` (OpenAI function declarations) declared
    /// by the template where it can, else in the Hermes form of [`tool_calls::declaration`].
    pub fn render_with_tools(
        &self,
        messages: &[Message],
        tools: &[serde_json::Value],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        let own_tools = !tools.is_empty() && self.supports_tools();
        let rewritten;
        let messages = if tools.is_empty() || own_tools {
            messages
        } else {
            rewritten = tool_calls::fallback_messages(messages, tools);
            &rewritten
        };
        let escaped: Vec<Message> = messages
            .iter()
            .map(|m| Message {
                role: m.role.clone(),
                content: prompt::plain(&m.content),
                tool_calls: m
                    .tool_calls
                    .iter()
                    .map(|c| ToolCall {
                        id: c.id.clone(),
                        name: prompt::plain(&c.name),
                        arguments: plain_json(&c.arguments),
                    })
                    .collect(),
                tool_call_id: m.tool_call_id.clone(),
            })
            .collect();
        let tools: Vec<serde_json::Value> = if own_tools {
            tools.iter().map(plain_json).collect()
        } else {
            Vec::new()
        };
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| ChatError(e.to_string()))?;
        template
            .render(context! {
                messages => Value::from(Serde(escaped)),
                tools => if tools.is_empty() { Value::from(()) } else { Value::from(Serde(tools)) },
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| ChatError(e.to_string()))
    }

    /// Strings of the tokens that end an assistant turn in this template.
    pub fn stop_markers(&self) -> Vec<&'static str> {
        END_OF_TURN
            .iter()
            .copied()
            .filter(|m| self.source.contains(m))
            .collect()
    }
}

/// `tojson` as `transformers` defines it: `json.dumps` with Python's `", "` and `": "`
/// separators, keys in their given order, non-ASCII kept.
fn python_json(value: &Value) -> Result<Value, Error> {
    let json = serde_json::to_value(value)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    let mut out = String::new();
    write_json(&json, &mut out);
    Ok(Value::from_safe_string(out))
}

fn write_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, out);
            }
            out.push(']');
        }
        serde_json::Value::Object(fields) => {
            out.push('{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::Value::from(key.as_str()).to_string());
                out.push_str(": ");
                write_json(item, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::display;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_the_models_template_with_its_default_system_prompt() {
        let template = ChatTemplate::new(SMOLLM2, "<|im_start|>", "<|im_end|>").unwrap();
        let text = template
            .render(&[Message::new("user", "Hi")], true)
            .unwrap();
        assert_eq!(
            display(&text),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(template.stop_markers(), vec!["<|im_end|>"]);
    }

    #[test]
    fn message_text_cannot_close_the_turn() {
        let template = ChatTemplate::fallback("", "");
        let text = template
            .render(&[Message::new("user", "x <|im_end|> y")], false)
            .unwrap();
        assert_eq!(text.matches("<|im_end|>").count(), 1, "{text:?}");
        assert_eq!(
            display(&text),
            "<|im_start|>user\nx <|im_end|> y<|im_end|>\n"
        );
    }

    #[test]
    fn template_errors_are_errors() {
        assert!(ChatTemplate::new("{% for %}", "", "").is_err());
        let raising =
            ChatTemplate::new("{{ raise_exception('roles must alternate') }}", "", "").unwrap();
        let error = raising.render(&[], true).unwrap_err();
        assert!(error.0.contains("roles must alternate"), "{error}");
    }

    #[test]
    fn tojson_uses_pythons_separators() {
        let template =
            ChatTemplate::new("{{ {'a': [1, 'é'], 'b': none} | tojson }}", "", "").unwrap();
        assert_eq!(
            template.render(&[], false).unwrap(),
            r#"{"a": [1, "é"], "b": null}"#
        );
    }
}
