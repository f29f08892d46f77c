//! Tool calls in the Hermes form the Qwen2.5 family (and most open tool-calling models)
//! writes: `<tool_call>{"name": …, "arguments": {…}}</tool_call>` inside the assistant's turn.
//! [`parse`] reads them out of an answer; [`fallback_messages`] renders an agent conversation
//! for a chat template that has no tool support of its own, in the same form, so every
//! model family sees its tools and answers in one format the IDE parses.

use serde::Serialize;
use serde_json::Value;

use crate::chat::Message;

/// Opens a call.
pub const OPEN: &str = "<tool_call>";
/// Closes a call.
pub const CLOSE: &str = "</tool_call>";

/// One call the model made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCall {
    /// The call's id in an OpenAI-style history (templates do not read it).
    #[serde(skip)]
    pub id: Option<String>,
    /// The tool's name.
    pub name: String,
    /// Its arguments (a JSON object).
    pub arguments: Value,
}

/// An answer split into its text and its calls.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// The text outside the calls, trimmed.
    pub content: String,
    /// Each call in order, or why it could not be read (told back to the model).
    pub calls: Vec<Result<ToolCall, String>>,
}

/// Splits a finished answer into its text and its `<tool_call>` blocks. A block left open at
/// the end is read up to the end (the stop token may come where `</tool_call>` would).
pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut content = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        content.push_str(&rest[..start]);
        let body_start = start + OPEN.len();
        let (body, after) = match rest[body_start..].find(CLOSE) {
            Some(end) => (
                &rest[body_start..body_start + end],
                &rest[body_start + end + CLOSE.len()..],
            ),
            None => (&rest[body_start..], ""),
        };
        parsed.calls.push(call_from_json(body.trim()));
        rest = after;
    }
    content.push_str(rest);
    parsed.content = content.trim().to_owned();
    if parsed.calls.is_empty()
        && let Some(call) = bare_call(text)
    {
        // Small models often write the call as a bare (or fenced) JSON object.
        parsed.calls.push(Ok(call));
        parsed.content.clear();
    }
    parsed
}

/// An answer that is nothing but one `{"name": …, "arguments": {…}}` object, bare or in a
/// ```` ```json ```` fence.
fn bare_call(text: &str) -> Option<ToolCall> {
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    let value: Value = serde_json::from_str(inner).ok()?;
    let object = value.as_object()?;
    if object.len() != 2 || !object.contains_key("name") || !object.contains_key("arguments") {
        return None;
    }
    call_from_json(inner).ok()
}

/// Whether `text` holds no readable call but looks like one written in another form (a
/// fenced JSON block, a bare object): such an answer is asked for again under the constraint.
pub fn looks_like_a_call(text: &str) -> bool {
    parse(text).calls.is_empty() && text.contains("\"name\"") && text.contains("\"arguments\"")
}

/// Reads `{"name": …, "arguments": …}`; arguments given as JSON text are read as JSON.
pub fn call_from_json(body: &str) -> Result<ToolCall, String> {
    let value: Value = serde_json::from_str(body)
        .map_err(|e| format!("the tool call is not valid JSON ({e}): {body}"))?;
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .ok_or("the tool call has no \"name\"")?
        .to_owned();
    let arguments = match value.get("arguments") {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(Value::String(text)) => serde_json::from_str(text)
            .map_err(|e| format!("the arguments of {name} are not valid JSON ({e})"))?,
        Some(other) => other.clone(),
    };
    if !arguments.is_object() {
        return Err(format!("the arguments of {name} must be a JSON object"));
    }
    Ok(ToolCall {
        id: None,
        name,
        arguments,
    })
}

/// The system text that declares `tools` to a model whose template cannot (Qwen2.5's own
/// wording, so models trained on it recognise it).
pub fn declaration(tools: &[Value]) -> String {
    let mut text = String::from(
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>",
    );
    for tool in tools {
        text.push('\n');
        text.push_str(&tool.to_string());
    }
    text.push_str("\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>");
    text
}

/// An agent conversation as plain chat turns for a template without tool support: the tools
/// declared in the system turn, calls written into the assistant's text, results as user turns
/// wrapped in `<tool_response>`.
pub fn fallback_messages(messages: &[Message], tools: &[Value]) -> Vec<Message> {
    let mut out = Vec::with_capacity(messages.len() + 1);
    let declared = declaration(tools);
    match messages.first() {
        Some(first) if first.role == "system" => out.push(Message::new(
            "system",
            &format!("{}\n\n{declared}", first.content),
        )),
        _ => out.push(Message::new("system", &declared)),
    }
    for message in messages {
        match message.role.as_str() {
            "system" => {}
            "tool" => out.push(Message::new(
                "user",
                &format!("<tool_response>\n{}\n</tool_response>", message.content),
            )),
            _ if !message.tool_calls.is_empty() => {
                let mut text = message.content.clone();
                for call in &message.tool_calls {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    let json =
                        serde_json::json!({ "name": call.name, "arguments": call.arguments });
                    text.push_str(&format!("{OPEN}\n{json}\n{CLOSE}"));
                }
                out.push(Message::new(&message.role, &text));
            }
            _ => out.push(message.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_calls_and_text() {
        let parsed = parse(
            "I will look.\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.py\"}}\n</tool_call>\n<tool_call>{\"name\":\"list_dir\",\"arguments\":\"{}\"}</tool_call>",
        );
        assert_eq!(parsed.content, "I will look.");
        assert_eq!(
            parsed.calls,
            vec![
                Ok(ToolCall {
                    id: None,
                    name: "read_file".into(),
                    arguments: json!({"path": "a.py"})
                }),
                Ok(ToolCall {
                    id: None,
                    name: "list_dir".into(),
                    arguments: json!({})
                }),
            ]
        );
    }

    #[test]
    fn an_open_call_at_the_end_is_read_and_bad_ones_are_reasons() {
        let parsed =
            parse("<tool_call>{\"name\": \"git\", \"arguments\": {\"args\": [\"status\"]}}");
        assert_eq!(parsed.calls.len(), 1);
        assert!(parsed.calls[0].is_ok());
        let bad = parse(
            "<tool_call>{\"name\": \"git\", \"arguments\": [1]}</tool_call><tool_call>{oops}</tool_call><tool_call>{\"arguments\": {}}</tool_call>",
        );
        assert_eq!(bad.calls.len(), 3);
        assert!(bad.calls.iter().all(Result::is_err), "{bad:?}");
        assert!(
            bad.calls[1]
                .as_ref()
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert_eq!(parse("just text").calls, vec![]);
    }

    #[test]
    fn a_bare_or_fenced_call_is_read_and_a_broken_one_noticed() {
        let fenced =
            "```json\n{\n  \"name\": \"apply_edit\",\n  \"arguments\": {\"path\": \"a\"}\n}\n```";
        let parsed = parse(fenced);
        assert_eq!(parsed.calls.len(), 1);
        assert_eq!(parsed.calls[0].as_ref().unwrap().name, "apply_edit");
        assert_eq!(parsed.content, "");
        let bare = parse("{\"name\": \"git\", \"arguments\": {\"args\": [\"status\"]}}");
        assert_eq!(bare.calls.len(), 1);
        assert!(!looks_like_a_call(fenced), "read, so not asked again");
        let broken = "```json\n{\"name\": \"apply_edit\", \"arguments\": {\"path\": \"a\"\n```";
        assert!(parse(broken).calls.is_empty());
        assert!(looks_like_a_call(broken));
        assert!(
            parse("Here is {\"name\": \"x\"} in a sentence")
                .calls
                .is_empty()
        );
        assert!(!looks_like_a_call("Done. hello.py prints hello."));
        assert!(!looks_like_a_call(&format!(
            "{OPEN}{{\"name\": \"git\", \"arguments\": {{}}}}{CLOSE}"
        )));
    }

    #[test]
    fn a_template_without_tools_sees_them_in_the_system_turn() {
        let mut assistant = Message::new("assistant", "Reading.");
        assistant.tool_calls.push(ToolCall {
            id: Some("call_1".into()),
            name: "read_file".into(),
            arguments: json!({"path": "a"}),
        });
        let messages = vec![
            Message::new("system", "Be brief."),
            Message::new("user", "Fix a"),
            assistant,
            Message::new("tool", "{\"content\": \"x\"}"),
        ];
        let tools = vec![json!({"type": "function", "function": {"name": "read_file"}})];
        let out = fallback_messages(&messages, &tools);
        assert_eq!(out.len(), 4);
        assert!(out[0].content.starts_with("Be brief.\n\n# Tools"));
        assert!(out[0].content.contains("\"name\":\"read_file\""));
        assert_eq!(
            out[2].content,
            "Reading.\n<tool_call>\n{\"arguments\":{\"path\":\"a\"},\"name\":\"read_file\"}\n</tool_call>"
        );
        assert_eq!(out[3].role, "user");
        assert!(out[3].content.starts_with("<tool_response>\n{"));
        // What the model wrote reads back as the same call.
        let read_back = parse(&out[2].content).calls.remove(0).unwrap();
        assert_eq!(
            (read_back.name.as_str(), &read_back.arguments),
            ("read_file", &messages[2].tool_calls[0].arguments)
        );
    }
}
