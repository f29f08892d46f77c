//! The assistant's browser side: one "generate" interface for chat, inline completion and
//! the agent (`backend`), the agent's driver (`agent`), the conversation client (`chats`),
//! the audit records (`audit`), and the editor's completion provider (`inline`).
//! Browser-free rules live in `crate::model`.

pub mod agent;
pub mod audit;
pub mod backend;
pub mod chats;
pub mod inline;
pub mod team;

/// The context a prompt for `model` must fit in: a loaded model's KV cache, a team model's
/// listed context (`team_models`), or the page engine's most for a model not loaded yet.
pub fn context_of(model: &str, team_models: &[airlock_protocol::llm::LlmModel]) -> usize {
    match team::id(model) {
        Some(id) => team::context(team_models, id),
        None => crate::generation::with_loaded(model, |l| l.runner.capacity())
            .unwrap_or(crate::engine::CONTEXT),
    }
}

/// Tokens of `text` for `model`: its tokenizer's count when loaded, else about a third of the
/// bytes (a team model's tokenizer is on its server).
pub fn count_tokens(model: &str, text: &str) -> usize {
    crate::generation::with_loaded(model, |l| {
        l.tokenizer
            .encode(text)
            .map_or(text.len() / 3, |ids| ids.len())
    })
    .unwrap_or(text.len() / 3)
}

/// Waits until model `name` is loaded and idle (a generation that was just stopped may still
/// be finishing its token), at most `timeout_ms`; false if it is not by then or `give_up`.
pub async fn wait_idle(name: &str, timeout_ms: u32, give_up: impl Fn() -> bool) -> bool {
    if team::id(name).is_some() {
        return true;
    }
    let mut waited = 0;
    while !crate::generation::is_loaded(name) {
        if give_up() || waited >= timeout_ms {
            return false;
        }
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(window) = web_sys::window() {
                let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 20);
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        waited += 20;
    }
    true
}
