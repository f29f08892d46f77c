//! Conversations (`/api/chats`) and the assistant's audit records (`POST /api/assistant/log`).

use serde::{Deserialize, Serialize};

/// A turn of a stored conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatTurn {
    /// `user` or `assistant`.
    pub role: String,
    /// What was said (for the user: the question, without attached files).
    pub content: String,
    /// Workspace paths (or `path (selection)`) attached to a user turn.
    #[serde(default)]
    pub attachments: Vec<String>,
}

/// A stored conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Random id, `[0-9a-f]{16}`.
    pub id: String,
    /// Shown in the list; the first question until renamed.
    pub title: String,
    /// The turns, oldest first.
    pub turns: Vec<ChatTurn>,
    /// Milliseconds since the Unix epoch of the last change.
    pub updated_ms: u64,
}

/// One entry of `GET /api/chats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Last change.
    pub updated_ms: u64,
    /// Number of turns.
    pub turns: usize,
}

/// What the assistant did, for the audit log (token counts and outcome, never the text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistantEvent {
    /// `chat`, `completion`, `apply`, `agent` (one model turn of an agent run) or `undo`.
    pub kind: String,
    /// The model's name.
    pub model: String,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub output_tokens: u32,
    /// `ok`, `stopped`, `cancelled`, `error: …`.
    pub outcome: String,
    /// For `apply` and `undo`: the file changed.
    #[serde(default)]
    pub path: Option<String>,
}
