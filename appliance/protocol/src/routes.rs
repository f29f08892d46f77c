//! The assistant routes' paths, named once for the appliance's router and the IDE's client.

/// The model store's listing ([`crate::models::ModelList`]).
pub const MODELS: &str = "/api/models";
/// One model file's bytes: `?path=NAME`.
pub const MODEL_FILE: &str = "/api/models/file";
/// Conversations: `GET` lists, `POST` creates or replaces one ([`crate::chat::Conversation`]).
pub const CHATS: &str = "/api/chats";
/// One conversation: `GET ?id=`.
pub const CHAT: &str = "/api/chats/one";
/// Deletes one conversation: `POST {"id": …}`.
pub const CHAT_DELETE: &str = "/api/chats/delete";
/// The assistant's audit records ([`crate::chat::AssistantEvent`]).
pub const ASSISTANT_LOG: &str = "/api/assistant/log";
