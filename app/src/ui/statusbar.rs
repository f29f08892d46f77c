//! The status bar: last message, air-gap summary, CSP blocks, cursor and language.

use leptos::prelude::*;

use super::IdeState;
use super::assistant::state::CompletionStatus;

fn completion_state(state: IdeState) -> &'static str {
    match state.assistant.completion.get() {
        CompletionStatus::Idle => "idle",
        CompletionStatus::Running => "running",
        CompletionStatus::Streaming { .. } => "streaming",
        CompletionStatus::Shown { .. } => "shown",
        CompletionStatus::Empty { .. } => "empty",
        CompletionStatus::Cancelled { .. } => "cancelled",
        CompletionStatus::Off(_) => "off",
    }
}

fn completion_text(state: IdeState) -> String {
    let last = state
        .assistant
        .last_completion_ms
        .get()
        .map(|ms| format!(" · last {ms:.0} ms"))
        .unwrap_or_default();
    match state.assistant.completion.get() {
        CompletionStatus::Idle => String::new(),
        CompletionStatus::Running => format!("Completing…{last}"),
        CompletionStatus::Streaming { first_ms } => {
            format!("Completing… first text in {first_ms:.0} ms (Tab accepts what is shown)")
        }
        CompletionStatus::Shown { ms } => format!("Completion in {ms:.0} ms (Tab accepts)"),
        CompletionStatus::Empty { ms } => format!("No completion ({ms:.0} ms)"),
        CompletionStatus::Cancelled { tokens } => {
            format!(
                "Completion cancelled: the engine stopped after {tokens} token{}{last}",
                if tokens == 1 { "" } else { "s" }
            )
        }
        CompletionStatus::Off(why) => format!("Completion off: {why}"),
    }
}

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
            <span class="completion-status" data-state=move || completion_state(state)>{move || completion_text(state)}</span>
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
