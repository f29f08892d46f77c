//! The chat pane: conversations kept by the appliance (new, open, rename, delete), the
//! attachments of the next question (the active file automatically, the selection, files
//! picked with `@`; each visible and removable), a streaming answer with Stop (Esc), the
//! speed and context use, and the prompt as the model saw it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use airlock_protocol::chat::{ChatTurn, Conversation};
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::answer;
use super::state::{ChatStats, Chip};
use crate::api;
use crate::assistant::backend::{self, Params, Prompt};
use crate::assistant::chats;
use crate::editor;
use crate::model::chat::{Attachment, Turn, build, matching_files, mention};
use crate::ui::IdeState;

/// The system prompt of every chat.
const SYSTEM: &str = "You are Airlock's coding assistant, running on this machine with no network. Answer concisely. Put code in fenced blocks with a language tag.";

/// Tokens an answer may have.
const MAX_ANSWER: usize = 512;

thread_local! {
    static STOP: RefCell<Option<Rc<Cell<bool>>>> = const { RefCell::new(None) };
}

/// Stops the running answer.
pub fn stop() {
    STOP.with(|s| {
        if let Some(flag) = s.borrow().as_ref() {
            flag.set(true);
        }
    });
    crate::assistant::team::abort_if_cancelled();
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Reads the stored conversation list.
pub fn refresh_list(state: IdeState) {
    spawn_local(async move {
        if let Ok(list) = chats::list().await {
            state.assistant.chats.set(list);
        }
    });
}

fn open_conversation(state: IdeState, id: String) {
    spawn_local(async move {
        match chats::open(&id).await {
            Ok(c) => state.assistant.chat.update(|v| {
                v.conversation = Some(c);
                v.notes.clear();
                v.streaming = None;
            }),
            Err(e) => state.complain(format!("Could not open the conversation: {}", e.message)),
        }
    });
}

fn new_conversation(state: IdeState) {
    state.assistant.chat.update(|v| {
        v.conversation = None;
        v.notes.clear();
        v.streaming = None;
        v.stats = None;
    });
}

/// The text of each attachment: the editor's buffer when the file is open, else the disk's.
async fn attachment_texts(chips: &[Chip]) -> Result<Vec<Attachment>, String> {
    let mut out = Vec::new();
    for chip in chips {
        let text = match &chip.selection {
            Some((_, _, text)) => text.clone(),
            None => match editor::content(&chip.path) {
                Some(text) => text,
                None => api::get(&api::file_url(&chip.path))
                    .await
                    .map_err(|e| format!("{}: {}", chip.path, e.message))?["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            },
        };
        out.push(Attachment {
            label: chip.label(),
            text,
        });
    }
    Ok(out)
}

/// Sends `question` with the attached chips to the active model and streams the answer.
fn send(state: IdeState, question: String) {
    let a = state.assistant;
    let Some(model) = a.active_model.get_untracked() else {
        a.chat
            .update(|v| v.notes = vec!["Load a model in the Models pane first.".into()]);
        return;
    };
    if a.running.get_untracked() {
        return;
    }
    let chips = a.chips.get_untracked();
    let stop_flag = Rc::new(Cell::new(false));
    STOP.with(|s| *s.borrow_mut() = Some(stop_flag.clone()));
    a.running.set(true);
    a.chat.update(|v| {
        v.notes.clear();
        v.streaming = Some(String::new());
    });
    spawn_local(async move {
        let result = async {
            let attachments = attachment_texts(&chips).await?;
            let conversation = a.chat.with_untracked(|v| v.conversation.clone());
            let history: Vec<Turn> = conversation
                .iter()
                .flat_map(|c| &c.turns)
                .map(|t| Turn {
                    role: t.role.clone(),
                    content: t.content.clone(),
                })
                .collect();
            if !crate::assistant::wait_idle(&model, 10_000, || false).await {
                return Err(format!("{model} is busy or not loaded"));
            }
            let context = a
                .team_models
                .with_untracked(|models| crate::assistant::context_of(&model, models));
            let count = |text: &str| crate::assistant::count_tokens(&model, text);
            let built = build(SYSTEM, &history, &attachments, &question, context, &count)?;
            a.chat.update(|v| v.notes = built.notes.clone());
            let outcome = backend::generate(
                &model,
                Prompt::Chat(built.messages),
                Params {
                    max_tokens: MAX_ANSWER,
                    temperature: 0.0,
                    stop: Vec::new(),
                },
                stop_flag,
                &mut |piece| {
                    a.chat.update(|v| {
                        if let Some(s) = v.streaming.as_mut() {
                            s.push_str(piece);
                        }
                    })
                },
            )
            .await
            // The context the conversation was fitted in (a team model's from its list).
            .map(|o| backend::Outcome { context, ..o });
            crate::assistant::audit::record(
                "chat",
                &model,
                outcome.as_ref().map_err(String::as_str),
                None,
            );
            outcome
        }
        .await;
        a.running.set(false);
        STOP.with(|s| *s.borrow_mut() = None);
        match result {
            Ok(outcome) => {
                let mut conversation = a
                    .chat
                    .with_untracked(|v| v.conversation.clone())
                    .unwrap_or_else(|| {
                        let title: String = question.chars().take(60).collect();
                        Conversation {
                            id: chats::new_id(),
                            title,
                            turns: Vec::new(),
                            updated_ms: 0,
                        }
                    });
                conversation.turns.push(ChatTurn {
                    role: "user".into(),
                    content: question.clone(),
                    attachments: chips.iter().map(Chip::label).collect(),
                });
                conversation.turns.push(ChatTurn {
                    role: "assistant".into(),
                    content: outcome.text.clone(),
                    attachments: Vec::new(),
                });
                conversation.updated_ms = now_ms();
                let speed = if outcome.decode_ms > 0.0 {
                    outcome.output_tokens as f64 * 1000.0 / outcome.decode_ms
                } else {
                    0.0
                };
                a.chat.update(|v| {
                    v.conversation = Some(conversation.clone());
                    v.streaming = None;
                    v.stats = Some(ChatStats {
                        speed,
                        prompt: outcome.prompt_tokens,
                        reused: outcome.reused_tokens,
                        output: outcome.output_tokens,
                        context: outcome.context,
                    });
                    v.last_prompt = outcome.prompt_text.clone();
                    if outcome.stop == "cancelled" {
                        v.notes.push("Stopped.".into());
                    } else if outcome.stop == "context_full" {
                        v.notes
                            .push("The answer reached the end of the model's context.".into());
                    }
                });
                if let Err(e) = chats::save(&conversation).await {
                    state.complain(format!("The conversation was not saved: {}", e.message));
                }
                refresh_list(state);
            }
            Err(e) => {
                if crate::model::errors::classify(&e) == crate::model::errors::Failure::DeviceLost {
                    a.loaded.update(|l| l.retain(|n| *n != model));
                }
                a.chat.update(|v| {
                    v.streaming = None;
                    v.notes.push(crate::model::errors::explain("answering", &e));
                });
            }
        }
    });
}

/// Keeps the automatic chip on the active file (unless the user removed it for that file).
fn follow_active_file(state: IdeState) {
    let a = state.assistant;
    Effect::new(move |_| {
        let active = state.tabs.with(|t| t.active.clone());
        let dismissed = a.dismissed.get();
        a.chips.update(|chips| {
            chips.retain(|c| !c.auto);
            if let Some(path) = active
                && !dismissed.contains(&path)
                && !chips
                    .iter()
                    .any(|c| c.path == path && c.selection.is_none())
            {
                chips.insert(
                    0,
                    Chip {
                        path,
                        selection: None,
                        auto: true,
                    },
                );
            }
        });
    });
}

fn attach_selection(state: IdeState) {
    let selection = editor::selection();
    if selection.is_null() || selection.is_undefined() {
        state.complain("Select some code in the editor first");
        return;
    }
    let get = |k: &str| js_sys::Reflect::get(&selection, &k.into()).ok();
    let path = get("path").and_then(|v| v.as_string()).unwrap_or_default();
    let text = get("text").and_then(|v| v.as_string()).unwrap_or_default();
    let from = get("fromLine").and_then(|v| v.as_f64()).unwrap_or(1.0) as u32;
    let to = get("toLine").and_then(|v| v.as_f64()).unwrap_or(1.0) as u32;
    state.assistant.chips.update(|c| {
        c.push(Chip {
            path,
            selection: Some((from, to, text)),
            auto: false,
        })
    });
}

/// The text of the question box and the caret as a byte offset into it.
fn text_and_caret(field: &web_sys::HtmlTextAreaElement) -> (String, usize) {
    let value = field.value();
    // The DOM counts UTF-16 units; the text is almost always ASCII, and chars are close.
    let units = field
        .selection_start()
        .ok()
        .flatten()
        .unwrap_or(value.len() as u32) as usize;
    let caret = value
        .char_indices()
        .nth(units)
        .map_or(value.len(), |(i, _)| i);
    (value, caret)
}

/// The chat pane.
#[component]
pub fn ChatPanel() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let a = state.assistant;
    let input = NodeRef::<html::Textarea>::new();
    let transcript = NodeRef::<html::Div>::new();
    let picker = RwSignal::new(Vec::<String>::new());
    refresh_list(state);
    follow_active_file(state);
    Effect::new(move |_| {
        a.chat.with(|_| ());
        if let Some(div) = transcript.get() {
            div.set_scroll_top(div.scroll_height());
        }
    });
    let agent_transcript = NodeRef::<html::Div>::new();
    Effect::new(move |_| {
        a.agent.with(|_| ());
        if let Some(div) = agent_transcript.get() {
            div.set_scroll_top(div.scroll_height());
        }
    });
    let submit = move || {
        let Some(field) = input.get() else { return };
        let question = field.value();
        if question.trim().is_empty() || a.running.get_untracked() {
            return;
        }
        if a.agent_mode.get_untracked() {
            if a.agent.with_untracked(|v| v.running) {
                return;
            }
            field.set_value("");
            picker.set(Vec::new());
            let chips = a.chips.get_untracked();
            spawn_local(async move {
                match attachment_texts(&chips).await {
                    Ok(attachments) => crate::assistant::agent::start(state, question, attachments),
                    Err(e) => a.agent.update(|v| v.notes = vec![e]),
                }
            });
            return;
        }
        field.set_value("");
        picker.set(Vec::new());
        send(state, question);
    };
    let busy = move || a.running.get() || a.agent.with(|v| v.running);
    let stop_all = move || {
        stop();
        crate::assistant::agent::stop();
    };
    let pick = move |path: String| {
        let Some(field) = input.get() else { return };
        let (value, caret) = text_and_caret(&field);
        if let Some(word) = mention(&value[..caret]) {
            let start = caret - word.len() - 1;
            field.set_value(&format!("{}{}", &value[..start], &value[caret..]));
        }
        a.chips.update(|c| {
            if !c.iter().any(|x| x.path == path && x.selection.is_none()) {
                c.push(Chip {
                    path,
                    selection: None,
                    auto: false,
                });
            }
        });
        picker.set(Vec::new());
        let _ = field.focus();
    };
    let on_input = move |_| {
        let Some(field) = input.get() else { return };
        let (value, caret) = text_and_caret(&field);
        let found = mention(&value[..caret])
            .map(|q| matching_files(&state.tree.with_untracked(|t| t.files()), q, 8))
            .unwrap_or_default();
        picker.set(found);
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "Enter" if !ev.shift_key() => {
            ev.prevent_default();
            if let Some(first) = picker.with_untracked(|p| p.first().cloned()) {
                pick(first);
            } else {
                submit();
            }
        }
        "Escape" => {
            if a.running.get_untracked() || a.agent.with_untracked(|v| v.running) {
                ev.prevent_default();
                stop_all();
            } else if !picker.with_untracked(Vec::is_empty) {
                picker.set(Vec::new());
            }
        }
        _ => {}
    };
    let turns = move || {
        a.chat.with(|v| {
            v.conversation
                .as_ref()
                .map(|c| c.turns.iter().cloned().enumerate().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    // Where "apply" writes: the last user turn's first attachment.
    let target_after = move |index: usize| {
        a.chat.with_untracked(|v| {
            v.conversation.as_ref().and_then(|c| {
                c.turns[..index]
                    .iter()
                    .rev()
                    .find(|t| t.role == "user")
                    .and_then(|t| t.attachments.first().cloned())
            })
        })
    };
    view! {
        <div class="chat-panel">
            <div class="chat-head">
                <select class="chat-list" aria-label="Conversations" on:change=move |ev| {
                    let id = event_target_value(&ev);
                    if id.is_empty() { new_conversation(state) } else { open_conversation(state, id) }
                }>
                    <option value="" selected=move || a.chat.with(|v| v.conversation.is_none())>"New conversation"</option>
                    <For each=move || a.chats.get() key=|c| (c.id.clone(), c.title.clone(), c.updated_ms) let:c>
                        <option value=c.id.clone() selected={ let id = c.id.clone(); move || a.chat.with(|v| v.conversation.as_ref().is_some_and(|x| x.id == id)) }>{c.title.clone()}</option>
                    </For>
                </select>
                <button class="icon-button new-chat" title="New conversation" on:click=move |_| new_conversation(state)>"New"</button>
                <button class="icon-button rename-chat" title="Rename" on:click=move |_| rename(state)>"Rename"</button>
                <button class="icon-button delete-chat" title="Delete" on:click=move |_| delete(state)>"Delete"</button>
                <button class="icon-button agent-mode" title="Agent: the model uses the workspace's tools"
                    aria-pressed=move || a.agent_mode.get().to_string()
                    on:click=move |_| a.agent_mode.update(|m| *m = !*m)>"Agent"</button>
            </div>
            <Show when=move || a.agent_mode.get()>
                <div class="transcript agent-transcript" aria-live="polite" node_ref=agent_transcript>
                    <super::agent::AgentTranscript/>
                </div>
            </Show>
            <div class="transcript" class:hidden=move || a.agent_mode.get() node_ref=transcript aria-live="polite">
                <Show when=move || a.chat.with(|v| v.conversation.is_none() && v.streaming.is_none())>
                    <p class="note">{move || match a.active_model.get() {
                        Some(m) => format!("Ask {m} about your code. The active file is attached; add the selection or type @ to attach other files."),
                        None => "Load a model in the Models pane to start.".to_owned(),
                    }}</p>
                </Show>
                <For each=turns key=|(i, t)| (*i, t.content.len()) let:item>
                    {
                        let (index, turn) = item;
                        if turn.role == "user" {
                            view! {
                                <div class="turn user">
                                    <div class="chips">{turn.attachments.iter().map(|l| view! { <span class="chip">{l.clone()}</span> }).collect_view()}</div>
                                    <div class="text">{turn.content.clone()}</div>
                                </div>
                            }.into_any()
                        } else {
                            view! { <div class="turn assistant">{answer::render(state, &turn.content, target_after(index))}</div> }.into_any()
                        }
                    }
                </For>
                {move || a.chat.with(|v| v.streaming.clone()).map(|text| view! {
                    <div class="turn assistant streaming">{answer::render(state, &text, None)}<span class="cursor-blink">"▍"</span></div>
                })}
                <For each=move || a.chat.with(|v| v.notes.clone()) key=|n| n.clone() let:note>
                    <p class="note chat-note">{note}</p>
                </For>
            </div>
            <div class="chat-stats" class:hidden=move || a.agent_mode.get()>
                {move || a.chat.with(|v| v.stats.map(|s| s.line())).unwrap_or_default()}
                <details class="prompt-view">
                    <summary>"Prompt"</summary>
                    <pre class="last-prompt">{move || a.chat.with(|v| v.last_prompt.clone())}</pre>
                </details>
            </div>
            <div class="attachments">
                <For each=move || a.chips.get() key=|c| c.label() let:chip>
                    <span class="chip" class:auto=chip.auto data-path=chip.path.clone()>
                        {chip.label()}
                        <button class="chip-remove" title="Remove" aria-label=format!("Remove {}", chip.label()) on:click={
                            let chip = chip.clone();
                            move |_| {
                                a.chips.update(|c| c.retain(|x| *x != chip));
                                if chip.auto {
                                    a.dismissed.update(|d| d.push(chip.path.clone()));
                                }
                            }
                        }>"×"</button>
                    </span>
                </For>
                <button class="icon-button attach-selection" on:click=move |_| attach_selection(state)>"+ Selection"</button>
            </div>
            <div class="picker" class:hidden=move || picker.with(Vec::is_empty)>
                <For each=move || picker.get() key=|p| p.clone() let:path>
                    {
                        let label = path.clone();
                        view! { <button class="pick" on:click=move |_| pick(path.clone())>{label}</button> }
                    }
                </For>
            </div>
            <div class="chat-input">
                <textarea node_ref=input rows="3" aria-label="Ask the assistant" placeholder=move || if a.agent_mode.get() { "Give the agent a task (Enter runs it)" } else { "Ask about your code (Enter sends, Shift+Enter for a new line, @ attaches a file)" }
                    on:keydown=on_key on:input=on_input></textarea>
                <Show when=busy fallback=move || view! {
                    <button class="primary send" on:click=move |_| submit()>{move || if a.agent_mode.get() { "Run" } else { "Send" }}</button>
                }>
                    <button class="danger stop-answer" title="Stop (Esc)" on:click=move |_| stop_all()>"Stop"</button>
                </Show>
            </div>
        </div>
    }
}

fn rename(state: IdeState) {
    let a = state.assistant;
    let Some(mut conversation) = a.chat.with_untracked(|v| v.conversation.clone()) else {
        return;
    };
    let Some(title) = web_sys::window()
        .and_then(|w| {
            w.prompt_with_message_and_default("Rename the conversation", &conversation.title)
                .ok()
                .flatten()
        })
        .filter(|t| !t.trim().is_empty())
    else {
        return;
    };
    conversation.title = title;
    conversation.updated_ms = now_ms();
    a.chat
        .update(|v| v.conversation = Some(conversation.clone()));
    spawn_local(async move {
        if let Err(e) = chats::save(&conversation).await {
            state.complain(format!("Not renamed: {}", e.message));
        }
        refresh_list(state);
    });
}

fn delete(state: IdeState) {
    let a = state.assistant;
    let Some(id) = a
        .chat
        .with_untracked(|v| v.conversation.as_ref().map(|c| c.id.clone()))
    else {
        return;
    };
    let confirmed = web_sys::window()
        .and_then(|w| w.confirm_with_message("Delete this conversation?").ok())
        .unwrap_or(false);
    if !confirmed {
        return;
    }
    spawn_local(async move {
        match chats::delete(&id).await {
            Ok(()) => new_conversation(state),
            Err(e) => state.complain(format!("Not deleted: {}", e.message)),
        }
        refresh_list(state);
    });
}

/// Focuses the question box (Ctrl+L).
pub fn focus_input() {
    if let Some(field) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector(".chat-input textarea").ok().flatten())
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = field.focus();
    }
}
