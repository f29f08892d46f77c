//! The agent's transcript in the chat pane: the task, each step (tool, arguments, output or
//! refusal, duration), the approval card for a call the policy asks about, the per-hunk
//! review of an edit, the model's text as it streams, how the run ended, and undo.

use airlock_protocol::approvals::Answer;
use leptos::prelude::*;

use super::apply::diff_lines;
use crate::assistant::agent::{self, Said};
use crate::model::agent::run::{State, Step};
use crate::ui::IdeState;

/// The arguments as a person reads them: short values inline, long ones cut.
fn arguments_text(step: &Step) -> String {
    let Some(object) = step.arguments.as_object() else {
        return String::new();
    };
    // What names the target first: the path, the command, the query.
    let mut fields: Vec<_> = object.iter().collect();
    fields.sort_by_key(|(key, _)| !matches!(key.as_str(), "path" | "command" | "query" | "args"));
    fields
        .into_iter()
        .map(|(key, value)| {
            let text = match value.as_str() {
                Some(s) => s.to_owned(),
                None => value.to_string(),
            };
            let short: String = text.chars().take(120).collect();
            let more = if short.len() < text.len() { "…" } else { "" };
            format!("{key}={short}{more}")
        })
        .collect::<Vec<_>>()
        .join("  ")
}

fn state_class(state: &State) -> &'static str {
    match state {
        State::Queued => "queued",
        State::Running => "running",
        State::Done => "done",
        State::Refused(_) => "refused",
        State::Denied => "denied",
        State::Cancelled => "cancelled",
    }
}

fn step_view(step: Step) -> impl IntoView {
    let label = agent::state_label(&step.state);
    let ms = if step.ms > 0.0 {
        format!("{:.0} ms", step.ms)
    } else {
        String::new()
    };
    let output = step.output.clone();
    let is_diff = matches!(step.tool.as_str(), "apply_edit" | "propose_edit");
    view! {
        <div class="agent-step" data-tool=step.tool.clone() data-state=state_class(&step.state)>
            <div class="step-head">
                <span class="step-tool">{step.tool.clone()}</span>
                <code class="step-args">{arguments_text(&step)}</code>
                <span class="step-state">{label}</span>
                <span class="step-ms">{ms}</span>
            </div>
            <Show when={ let empty = output.is_empty(); move || !empty }>
                <pre class="step-output">{if is_diff { diff_lines(&output).into_any() } else { output.clone().into_any() }}</pre>
            </Show>
        </div>
    }
}

/// The approval card: exactly what would run, and the three answers.
#[component]
fn ApprovalCard() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let view = state.assistant.agent;
    let pending = move || view.with(|v| v.approval.clone());
    let reply = |answer: Answer| move |_| agent::answer(Said::Answer(answer));
    view! {
        {move || pending().map(|(_, p)| view! {
            <div class="approval-card" role="group" aria-label="Approval">
                <p>{format!("{} needs your approval:", p.tool)}</p>
                <pre class="approval-shown">{p.shown.clone()}</pre>
                <div class="actions">
                    <button class="deny" on:click=reply(Answer::Deny)>"Deny"</button>
                    <button class="always" on:click=reply(Answer::AlwaysThisSession)>"Always this session"</button>
                    <button class="primary approve" on:click=reply(Answer::Approve)>"Approve"</button>
                </div>
            </div>
        })}
    }
}

/// The per-hunk review of an edit.
#[component]
fn ReviewCard() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let view = state.assistant.agent;
    let hunks = move || {
        view.with(|v| {
            v.review
                .as_ref()
                .map(|(_, r)| {
                    r.hunks
                        .iter()
                        .cloned()
                        .zip(r.accepted.iter().copied())
                        .enumerate()
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    let toggle = move |i: usize| {
        view.update(|v| {
            if let Some((_, r)) = v.review.as_mut()
                && let Some(a) = r.accepted.get_mut(i)
            {
                *a = !*a;
            }
        })
    };
    let apply = move |_| {
        let accepted = view.with_untracked(|v| {
            v.review
                .as_ref()
                .map(|(_, r)| r.accepted.clone())
                .unwrap_or_default()
        });
        agent::answer(Said::Hunks(accepted));
    };
    let reject = move |_| {
        let count = view.with_untracked(|v| v.review.as_ref().map_or(0, |(_, r)| r.hunks.len()));
        agent::answer(Said::Hunks(vec![false; count]));
    };
    view! {
        <Show when=move || view.with(|v| v.review.is_some())>
            <div class="review-card" role="group" aria-label="Review the edit">
                <p class="review-title">{move || view.with(|v| v.review.as_ref().map(|(_, r)| {
                    let verb = if r.exists { "Edit" } else { "Create" };
                    format!("{verb} {}: choose the changes to keep", r.path)
                }).unwrap_or_default())}</p>
                <Show when=move || view.with(|v| v.unsaved)>
                    <p class="note review-unsaved">"This file has unsaved changes in the editor. They stay there; saving them later shows the conflict."</p>
                </Show>
                <For each=hunks key=|(i, (h, a))| (*i, h.text.len(), *a) let:item>
                    {
                        let (i, (hunk, accepted)) = item;
                        view! {
                            <div class="hunk" class:rejected=!accepted data-accepted=accepted.to_string()>
                                <div class="hunk-head">
                                    <span>{format!("+{} −{}", hunk.added, hunk.removed)}</span>
                                    <button class="hunk-toggle" on:click=move |_| toggle(i)>
                                        {if accepted { "Reject this change" } else { "Keep this change" }}
                                    </button>
                                </div>
                                <pre class="diff">{diff_lines(&hunk.text)}</pre>
                            </div>
                        }
                    }
                </For>
                <div class="actions">
                    <button class="reject-edit" on:click=reject>"Reject all"</button>
                    <button class="primary apply-edit" on:click=apply>"Apply the kept changes"</button>
                </div>
            </div>
        </Show>
    }
}

/// The agent's transcript.
#[component]
pub fn AgentTranscript() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let view = state.assistant.agent;
    let steps = move || {
        view.with(|v| {
            v.run
                .as_ref()
                .map(|r| r.steps().iter().cloned().enumerate().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    let ended = move || {
        view.with(|v| {
            v.run
                .as_ref()
                .and_then(|r| r.end().map(|e| (agent::ending(e), r.answer.clone())))
        })
    };
    view! {
        <div class="agent-run">
            <Show when=move || view.with(|v| v.run.is_none())>
                <p class="note">{move || match state.assistant.active_model.get() {
                    Some(m) => format!("Give {m} a task. It can read, search, edit and run commands in this workspace; edits wait for your review and commands for your approval where the policy asks."),
                    None => "Load a model in the Models pane to start.".to_owned(),
                }}</p>
            </Show>
            <Show when=move || view.with(|v| v.run.is_some())>
                <div class="turn user"><div class="text">{move || view.with(|v| v.task.clone())}</div></div>
            </Show>
            <For each=steps key=|(i, s)| (*i, format!("{:?}", s.state), s.output.len()) let:item>
                {step_view(item.1)}
            </For>
            <ApprovalCard/>
            <ReviewCard/>
            {move || view.with(|v| v.streaming.clone()).filter(|s| !s.is_empty()).map(|text| view! {
                <div class="turn assistant streaming agent-thinking"><pre>{text}</pre><span class="cursor-blink">"▍"</span></div>
            })}
            {move || ended().map(|(end, answer)| view! {
                <div class="agent-end">
                    <Show when={ let empty = answer.is_empty(); move || !empty }>
                        <div class="turn assistant agent-answer">{answer.clone()}</div>
                    </Show>
                    <p class="note agent-ending">{end}</p>
                </div>
            })}
            <Show when=move || view.with(|v| !v.running && !v.written.is_empty())>
                <button class="undo-agent" on:click=move |_| agent::undo(state)>
                    {move || view.with(|v| match v.written.len() {
                        1 => "Undo the agent's edit (1 file)".to_owned(),
                        n => format!("Undo the agent's edits ({n} files)"),
                    })}
                </button>
            </Show>
            <For each=move || view.with(|v| v.notes.clone()) key=|n| n.clone() let:note>
                <p class="note agent-note">{note}</p>
            </For>
        </div>
    }
}
