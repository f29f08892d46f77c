//! The status bar: last message, air-gap summary, CSP blocks, cursor and language.

use leptos::prelude::*;

use super::IdeState;

/// Status bar component.
#[component]
pub fn StatusBar() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let language = move || {
        state.tabs.with(|t| {
            t.active_tab()
                .map(|t| t.language.clone())
                .unwrap_or_default()
        })
    };
    let has_tab = move || state.tabs.with(|t| t.active_tab().is_some());
    view! {
        <footer class="statusbar">
            <span class="message" class:error=move || state.status.with(|s| s.error)>
                {move || state.status.with(|s| s.text.clone())}
            </span>
            <span class="spacer"></span>
            <span
                class="csp"
                data-blocked=move || state.csp_blocked.with(|b| b.len().to_string())
                title=move || state.csp_blocked.with(|b| b.join("\n"))
            >
                {move || format!("CSP: {} blocked", state.csp_blocked.with(Vec::len))}
            </span>
            <Show when=has_tab>
                <span class="cursor">{move || { let (l, c) = state.cursor.get(); format!("Ln {l}, Col {c}") }}</span>
                <span class="language">{language}</span>
                <span>"UTF-8"</span>
            </Show>
        </footer>
    }
}
