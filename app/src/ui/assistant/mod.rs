//! The assistant column: the chat and the Models pane, and the diff review of applied code.

pub mod agent;
pub mod answer;
pub mod apply;
pub mod chat;
pub mod models;
pub mod state;

use leptos::prelude::*;

use super::IdeState;
use state::Pane;

/// The right-hand assistant column.
#[component]
pub fn AssistantPanel() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let pane = state.assistant.pane;
    let tab = move |which: Pane, label: &'static str, class: &'static str| {
        view! {
            <button class=format!("pane-tab {class}") class:active=move || pane.get() == Some(which)
                on:click=move |_| pane.set(Some(which))>{label}</button>
        }
    };
    view! {
        <Show when=move || pane.get().is_some()>
            <aside class="assistant" aria-label="Assistant">
                <div class="assistant-head">
                    {tab(Pane::Chat, "Chat", "chat-tab")}
                    {tab(Pane::Models, "Models", "models-tab")}
                    <span class="spacer"></span>
                    <span class="active-model">{move || state.assistant.active_model.get().unwrap_or_else(|| "no model".into())}</span>
                    <button class="icon-button" title="Close" on:click=move |_| pane.set(None)>"×"</button>
                </div>
                <Show when=move || pane.get() == Some(Pane::Chat) fallback=|| view! { <models::ModelsPanel/> }>
                    <chat::ChatPanel/>
                </Show>
            </aside>
        </Show>
    }
}
