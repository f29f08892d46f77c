//! `/api/llm/v1/…`: the part of the OpenAI-compatible API the appliance relays to a team
//! server, as the IDE writes requests and reads answers (streamed or whole).

use serde::{Deserialize, Serialize};

/// `GET /api/llm/v1/models`: every model the configured team servers offer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmModels {
    /// The models, in the admin policy's order.
    pub data: Vec<LlmModel>,
    /// Plain-word reasons a server could not be asked for its list.
    #[serde(default)]
    pub problems: Vec<String>,
}

/// One model a team server offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmModel {
    /// The name to ask for.
    pub id: String,
    /// Always `model` (OpenAI's shape).
    pub object: String,
    /// The team server's name in the admin policy.
    pub owned_by: String,
    /// True when the server lists it now.
    pub available: bool,
    /// Its context in tokens: the admin policy's `context_tokens`, else what the server's list
    /// says (vLLM's `max_model_len`, llama.cpp's `meta.n_ctx_train`); `None` when neither does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<u32>,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text.
    #[serde(default)]
    pub content: String,
    /// The tools an assistant turn called (the agent's history).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tool_calls: Vec<LlmToolCall>,
    /// Which call a `tool` turn answers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tool_call_id: Option<String>,
}

/// A tool call in OpenAI's shape, as an assistant turn of the history carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmToolCall {
    /// The call's id, which the `tool` turn answering it names.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Which tool, with what.
    pub function: LlmFunctionCall,
}

/// The tool and its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmFunctionCall {
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON text (OpenAI's shape: a string, not an object).
    pub arguments: String,
}

/// `POST /api/llm/v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// A model from [`LlmModels`].
    pub model: String,
    /// The conversation.
    pub messages: Vec<LlmMessage>,
    /// Stream the answer as server-sent events.
    pub stream: bool,
    /// Most tokens to write.
    pub max_tokens: usize,
    /// 0 is greedy.
    pub temperature: f32,
    /// Strings that end the answer.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub stop: Vec<String>,
    /// The agent's tools, as JSON-schema function declarations (OpenAI's shape).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tools: Vec<serde_json::Value>,
    /// A JSON schema the answer must follow (`{"type": "json_schema", …}`): the server
    /// decodes under it (llama.cpp's grammar, vLLM's guided decoding).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub response_format: Option<serde_json::Value>,
}

/// `POST /api/llm/v1/completions` (fill in the middle where the server supports `suffix`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// A model from [`LlmModels`].
    pub model: String,
    /// Text before the cursor.
    pub prompt: String,
    /// Text after the cursor.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub suffix: Option<String>,
    /// Stream the answer as server-sent events.
    pub stream: bool,
    /// Most tokens to write.
    pub max_tokens: usize,
    /// 0 is greedy.
    pub temperature: f32,
    /// Strings that end the answer.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub stop: Vec<String>,
}

/// One streamed event (or a whole answer) of either call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// The pieces (one per choice; Airlock asks for one).
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Token counts, in the last event or the whole answer.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// An error reported inside the stream (by the server or the appliance).
    #[serde(default)]
    pub error: Option<ChunkError>,
}

/// One choice's piece.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Chat: the new text.
    #[serde(default)]
    pub delta: Option<Delta>,
    /// Chat, whole answer: the message.
    #[serde(default)]
    pub message: Option<Delta>,
    /// Completion: the new text.
    #[serde(default)]
    pub text: Option<String>,
    /// `stop`, `length`, … on the last piece.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// New chat text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The text.
    #[serde(default)]
    pub content: Option<String>,
    /// Pieces of tool calls (streamed: the name first, the arguments in fragments).
    #[serde(default)]
    pub tool_calls: Vec<ToolCallDelta>,
}

/// A piece of one tool call in a streamed answer (or the whole call in a whole answer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which call of the turn this piece belongs to.
    #[serde(default)]
    pub index: usize,
    /// The call's id (in its first piece).
    #[serde(default)]
    pub id: Option<String>,
    /// Name and argument text so far.
    #[serde(default)]
    pub function: Option<FunctionDelta>,
}

/// A piece of a call's name and arguments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionDelta {
    /// The tool's name (in the first piece).
    #[serde(default)]
    pub name: Option<String>,
    /// More of the arguments' JSON text.
    #[serde(default)]
    pub arguments: Option<String>,
}

/// Token counts as the server counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Written tokens.
    #[serde(default)]
    pub completion_tokens: u64,
}

/// An error inside a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkError {
    /// What went wrong, in words.
    #[serde(default)]
    pub message: String,
}

impl ChunkChoice {
    /// The new text of this piece, whichever call it came from.
    pub fn text(&self) -> &str {
        self.delta
            .as_ref()
            .or(self.message.as_ref())
            .and_then(|d| d.content.as_deref())
            .or(self.text.as_deref())
            .unwrap_or("")
    }
}
