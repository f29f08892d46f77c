//! The top bar: product name, workspace, and the live Air-Gap indicator.

use leptos::prelude::*;

use super::IdeState;

/// Top bar component.
#[component]
pub fn TopBar() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let airgap = state.airgap;
    view! {
        <header class="topbar">
            <span class="brand">"Airlock"</span>
            <span class="workspace-name">{move || state.workspace.get()}</span>
            <span class="spacer"></span>
            <span
                class="airgap"
                role="status"
                aria-live="polite"
                data-state=move || airgap.with(|a| a.state())
                title=move || airgap.with(|a| a.detail())
            >
                {move || airgap.with(|a| a.label())}
            </span>
        </header>
    }
}
