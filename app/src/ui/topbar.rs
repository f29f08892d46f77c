//! The top bar: product name, workspace, and the live Air-Gap indicator.

use leptos::prelude::*;

use super::IdeState;

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
