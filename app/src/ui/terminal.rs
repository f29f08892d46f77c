//! The terminal panel: commands run in the appliance's network-free sandbox, their output
//! streamed line by line; refusals by the policy are shown with their reason and rule.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};

use super::IdeState;
use crate::api;
use airlock_protocol::approvals::{Answer, Decision};
use airlock_protocol::routes;

/// What kind of line the panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// The command as typed.
    Prompt,
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// How the command ended.
    Info,
    /// A refusal by the guard or the sandbox.
    Refusal,
}

/// One chunk in the panel.
#[derive(Clone, Debug, PartialEq)]
pub struct TermLine {
    /// Kind, for styling.
    pub kind: LineKind,
    /// Text.
    pub text: String,
}

/// Terminal panel component.
#[component]
pub fn TerminalPanel() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let input = NodeRef::<html::Input>::new();
    let output = NodeRef::<html::Pre>::new();
    let abort: StoredValue<Option<web_sys::AbortController>, LocalStorage> =
        StoredValue::new_local(None);
    Effect::new(move |_| {
        state.terminal.with(|_| ());
        if let Some(pre) = output.get() {
            pre.set_scroll_top(pre.scroll_height());
        }
    });
    Effect::new(move |_| {
        if state.terminal_open.get()
            && let Some(field) = input.get()
        {
            let _ = field.focus();
        }
    });
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() != "Enter" || state.terminal_running.get_untracked() {
            return;
        }
        let Some(field) = input.get() else { return };
        let command = field.value();
        if command.trim().is_empty() {
            return;
        }
        field.set_value("");
        run(state, command, abort);
    };
    let stop = move |_| {
        if let Some(controller) = abort.get_value() {
            controller.abort();
        }
    };
    let numbered_lines = move || {
        state
            .terminal
            .get()
            .into_iter()
            .enumerate()
            .collect::<Vec<_>>()
    };
    view! {
        <Show when=move || state.terminal_open.get()>
            <section class="terminal" aria-label="Terminal">
                <div class="terminal-head">
                    <span>"Terminal — sandboxed, no network"</span>
                    <span class="spacer"></span>
                    <button class="icon-button stop" disabled=move || !state.terminal_running.get() on:click=stop>"Stop"</button>
                    <button class="icon-button" on:click=move |_| state.terminal.set(Vec::new())>"Clear"</button>
                    <button class="icon-button" title="Close (Ctrl+`)" on:click=move |_| state.terminal_open.set(false)>"×"</button>
                </div>
                <pre class="terminal-output" node_ref=output aria-live="polite">
                    <For each=numbered_lines key=|(i, _)| *i let:item>
                        <span class={format!("term-{}", kind_class(item.1.kind))}>{item.1.text}</span>
                    </For>
                </pre>
                <div class="terminal-input">
                    <span class="prompt">"$"</span>
                    <input
                        node_ref=input
                        type="text"
                        spellcheck="false"
                        autocomplete="off"
                        aria-label="Command"
                        placeholder=move || if state.terminal_running.get() { "running…" } else { "type a command and press Enter" }
                        on:keydown=on_key
                    />
                </div>
            </section>
        </Show>
    }
}

fn kind_class(kind: LineKind) -> &'static str {
    match kind {
        LineKind::Prompt => "prompt",
        LineKind::Stdout => "stdout",
        LineKind::Stderr => "stderr",
        LineKind::Info => "info",
        LineKind::Refusal => "refusal",
    }
}

fn push(state: IdeState, kind: LineKind, text: impl Into<String>) {
    state.terminal.update(|lines| {
        lines.push(TermLine {
            kind,
            text: text.into(),
        })
    });
}

/// Sends `command` to the appliance (typing it and pressing Enter is the approval) and
/// streams the answer into the panel.
fn run(
    state: IdeState,
    command: String,
    abort: StoredValue<Option<web_sys::AbortController>, LocalStorage>,
) {
    push(state, LineKind::Prompt, format!("$ {command}\n"));
    let Ok(controller) = web_sys::AbortController::new() else {
        return;
    };
    abort.set_value(Some(controller.clone()));
    state.terminal_running.set(true);
    spawn_local(async move {
        match run_approved(&command, &controller.signal()).await {
            Ok(response) => {
                if let Err(e) = stream_events(state, response).await {
                    push(state, LineKind::Info, format!("[stopped: {e}]\n"));
                }
            }
            Err(failure) => {
                let rule = failure.detail["rule"]
                    .as_str()
                    .map(|r| format!(" (rule: {r})"))
                    .unwrap_or_default();
                push(
                    state,
                    LineKind::Refusal,
                    format!("Refused: {}{rule}\n", failure.message),
                );
            }
        }
        state.terminal_running.set(false);
        abort.set_value(None);
    });
}

/// Runs `command`; when the policy asks for approval, the appliance's pending approval for
/// exactly this line is granted (typing it and pressing Enter was the person's decision)
/// and the call repeated with that one-time id.
async fn run_approved(
    command: &str,
    signal: &web_sys::AbortSignal,
) -> Result<web_sys::Response, api::ApiFailure> {
    let tool = format!("{}run_command", routes::TOOLS);
    let first = api::post_stream(&tool, &json!({ "command": command }), signal).await;
    let failure = match first {
        Err(failure) if failure.detail["reason"] == "approval_required" => failure,
        other => return other,
    };
    let Some(id) = failure.detail["approval"]["id"].as_str() else {
        return Err(failure);
    };
    let decision = Decision {
        id: id.to_owned(),
        answer: Answer::Approve,
    };
    api::post_typed(routes::APPROVALS, &decision).await?;
    let body = json!({ "command": command, "approval": id });
    api::post_stream(&tool, &body, signal).await
}

/// Reads the NDJSON stream and appends each event as it arrives.
async fn stream_events(state: IdeState, response: web_sys::Response) -> Result<(), String> {
    let mut lines = api::Lines::new(&response)?;
    while let Some(line) = lines.next().await? {
        show_event(state, &line);
    }
    Ok(())
}

fn show_event(state: IdeState, line: &str) {
    let Ok(event) = serde_json::from_str::<Value>(line) else {
        return;
    };
    match event["type"].as_str() {
        Some("output") => {
            let kind = if event["stream"] == "stderr" {
                LineKind::Stderr
            } else {
                LineKind::Stdout
            };
            push(state, kind, event["text"].as_str().unwrap_or_default());
        }
        Some("exit") => {
            let outcome = &event["outcome"];
            let text = if outcome["timed_out"] == true {
                "[killed: time limit]".to_owned()
            } else if outcome["output_limit_exceeded"] == true {
                "[killed: too much output]".to_owned()
            } else if outcome["cancelled"] == true {
                "[stopped]".to_owned()
            } else if outcome.is_null() {
                "[the sandbox failed to run the command]".to_owned()
            } else {
                format!(
                    "[exit {}]",
                    outcome["exit_code"]
                        .as_i64()
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "by signal".into())
                )
            };
            push(state, LineKind::Info, text + "\n");
        }
        _ => {}
    }
}
