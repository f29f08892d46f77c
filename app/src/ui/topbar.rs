//! The top bar: product name, workspace, and the live Air-Gap indicator.

use leptos::prelude::*;

use super::IdeState;
use super::assistant::state::Pane;

/// Shows `pane`, or hides the assistant when it is already shown.
fn toggle(state: IdeState, pane: Pane) {
    let current = state.assistant.pane;
    current.set(if current.get_untracked() == Some(pane) {
        None
    } else {
        Some(pane)
    });
}

/// Top bar component.
#[component]
pub fn TopBar() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let airgap = state.airgap;
    let audit_down = move || airgap.with(|a| a.failing("audit_log"));
    view! {
        <header class="topbar">
            <span class="brand">"Airlock"</span>
            <span class="workspace-name">{move || state.workspace.get()}</span>
            <span class="spacer"></span>
            <Show when=audit_down>
                <span class="alert" role="alert">"The audit log cannot be written — changes are refused until it can"</span>
            </Show>
            <button class="icon-button chat-toggle" title="Chat (Ctrl+L)" on:click=move |_| toggle(state, Pane::Chat)>"Chat"</button>
            <button class="icon-button models-toggle" title="Models" on:click=move |_| toggle(state, Pane::Models)>"Models"</button>
            <button class="icon-button terminal-toggle" title="Terminal (Ctrl+`)" on:click=move |_| state.terminal_open.update(|o| *o = !*o)>
                "Terminal"
            </button>
            <button class="icon-button evidence-open" title="Egress evidence" on:click=move |_| state.evidence_open.set(true)>
                "Evidence"
            </button>
            <button
                class="airgap"
                role="status"
                aria-live="polite"
                data-state=move || airgap.with(|a| a.state())
                title=move || airgap.with(|a| a.detail())
                on:click=move |_| state.evidence_open.set(true)
            >
                {move || airgap.with(|a| a.label())}
            </button>
        </header>
    }
}
