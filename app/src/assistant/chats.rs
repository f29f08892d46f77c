//! The conversation client: list, open, save and delete through `/api/chats`.

use airlock_protocol::chat::{Conversation, ConversationSummary};
use airlock_protocol::routes;

use crate::api::{self, ApiFailure};

/// Every stored conversation, newest first.
pub async fn list() -> Result<Vec<ConversationSummary>, ApiFailure> {
    api::get_typed(routes::CHATS).await
}

/// One conversation.
pub async fn open(id: &str) -> Result<Conversation, ApiFailure> {
    api::get_typed(&format!(
        "{}?id={}",
        routes::CHAT,
        String::from(js_sys::encode_uri_component(id))
    ))
    .await
}

/// Creates or replaces one.
pub async fn save(conversation: &Conversation) -> Result<(), ApiFailure> {
    api::post_typed(routes::CHATS, conversation)
        .await
        .map(|_| ())
}

/// Deletes one.
pub async fn delete(id: &str) -> Result<(), ApiFailure> {
    #[derive(serde::Serialize)]
    struct Id<'a> {
        id: &'a str,
    }
    api::post_typed(routes::CHAT_DELETE, &Id { id })
        .await
        .map(|_| ())
}

/// A fresh random conversation id (16 hex digits).
pub fn new_id() -> String {
    let mut bytes = [0u8; 8];
    let crypto = web_sys::window().and_then(|w| w.crypto().ok());
    if let Some(crypto) = crypto {
        let _ = crypto.get_random_values_with_u8_array(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
