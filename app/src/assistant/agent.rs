//! The agent's driver: runs a [`Run`] against the active model (in-browser engine or team
//! server, through `backend`) and the appliance's tools (`/api/tools/NAME`, where the guard,
//! policy, sandbox and audit apply — the page has no other way to act). A call the policy
//! marks "ask" waits for the person's answer on the appliance's one-time approval; an edit
//! waits for the person's per-hunk review; Stop cancels the generation and aborts the
//! running call (the appliance kills a command whose connection closes).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use airlock_protocol::approvals::{Answer, Decision, PendingApproval};
use airlock_protocol::routes;
use futures_channel::oneshot;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};

use super::backend::{self, Params, Prompt};
use crate::api::{self, ApiFailure};
use crate::model::agent::hunks::Review;
use crate::model::agent::run::{End, Next, Outcome, Run, State};
use crate::model::agent::tools;
use crate::model::chat::{Attachment, build};
use crate::ui::IdeState;

/// The system prompt of every agent run. Plain words, no worked example: a 0.5B model copies
/// an example's file name rather than following it.
const SYSTEM: &str = "You are Airlock's coding agent, working in the user's workspace on this machine with no network. Use the tools to look at files, edit them and run commands; call one tool at a time and wait for its result. Paths are relative to the workspace root. To create or change a file, call apply_edit with its complete new content. When the task is done, answer briefly without calling a tool.";

/// Most tool calls in one run.
pub const MAX_STEPS: usize = 12;

/// Most tokens of one model turn.
const MAX_TURN_TOKENS: usize = 1024;

/// What the person said to a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// An approval card's answer.
    Answer(Answer),
    /// The review's accepted hunks (all `false`: rejected).
    Hunks(Vec<bool>),
}

/// An edit the run wrote, for undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file.
    pub path: String,
    /// Its text before (`None`: the run created it).
    pub before: Option<String>,
    /// The version the write made.
    pub version: String,
}

/// The agent pane's live state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentView {
    /// The current or last run.
    pub run: Option<Run>,
    /// The task as typed.
    pub task: String,
    /// The model's text as it streams.
    pub streaming: Option<String>,
    /// A call waiting for the person's approval, and which step it is.
    pub approval: Option<(usize, PendingApproval)>,
    /// An edit waiting for the person's review, and which step it is.
    pub review: Option<(usize, Review)>,
    /// Unsaved editor text the review must warn about.
    pub unsaved: bool,
    /// The run's writes, oldest first.
    pub written: Vec<Written>,
    /// A run is going.
    pub running: bool,
    /// Notes for the person (undo results, errors).
    pub notes: Vec<String>,
}

thread_local! {
    static STOP: RefCell<Option<Rc<Cell<bool>>>> = const { RefCell::new(None) };
    static ABORT: RefCell<Option<web_sys::AbortController>> = const { RefCell::new(None) };
    static WAITING: RefCell<Option<oneshot::Sender<Said>>> = const { RefCell::new(None) };
}

/// Stops the run: the generation at its next token, the running call by closing its
/// connection, a waiting card as if denied.
pub fn stop() {
    STOP.with(|s| {
        if let Some(flag) = s.borrow().as_ref() {
            flag.set(true);
        }
    });
    super::team::abort_if_cancelled();
    ABORT.with(|a| {
        if let Some(controller) = a.borrow_mut().take() {
            controller.abort();
        }
    });
    WAITING.with(|w| w.borrow_mut().take());
}

/// The person's answer to the card shown.
pub fn answer(said: Said) {
    WAITING.with(|w| {
        if let Some(sender) = w.borrow_mut().take() {
            let _ = sender.send(said);
        }
    });
}

fn stopped() -> bool {
    STOP.with(|s| s.borrow().as_ref().is_some_and(|f| f.get()))
}

/// Waits for the person's answer (`None`: the run was stopped).
async fn person() -> Option<Said> {
    let (sender, receiver) = oneshot::channel();
    WAITING.with(|w| *w.borrow_mut() = Some(sender));
    receiver.await.ok()
}

fn update_run(state: IdeState, change: impl FnOnce(&mut Run)) {
    state.assistant.agent.update(|v| {
        if let Some(run) = v.run.as_mut() {
            change(run);
        }
    });
}

/// Starts a run of `task` on the active model, with `attachments` (the chat's chips: open
/// file, selection, picked files) in front of it, shortened by the chat's trimming rule so
/// that a quarter of the context is left for the run's steps.
pub fn start(state: IdeState, task: String, attachments: Vec<Attachment>) {
    let a = state.assistant;
    let Some(model) = a.active_model.get_untracked() else {
        a.agent
            .update(|v| v.notes = vec!["Load a model in the Models pane first.".into()]);
        return;
    };
    if a.agent.with_untracked(|v| v.running) {
        return;
    }
    let context = a
        .team_models
        .with_untracked(|models| crate::assistant::context_of(&model, models));
    let declared = format!(
        "{SYSTEM}\n{}",
        airlock_inference::tool_calls::declaration(&tools::declarations())
    );
    let built = match build(
        &declared,
        &[],
        &attachments,
        &task,
        context * 3 / 4,
        &|text| crate::assistant::count_tokens(&model, text),
    ) {
        Ok(built) => built,
        Err(why) => {
            a.agent.update(|v| v.notes = vec![why]);
            return;
        }
    };
    let asked = built
        .messages
        .last()
        .map_or_else(|| task.clone(), |m| m.content.clone());
    let flag = Rc::new(Cell::new(false));
    STOP.with(|s| *s.borrow_mut() = Some(flag.clone()));
    a.agent.set(AgentView {
        run: Some(Run::new(SYSTEM, &asked, MAX_STEPS)),
        task,
        running: true,
        notes: built.notes,
        ..AgentView::default()
    });
    spawn_local(async move {
        drive(state, &model, flag).await;
        a.agent.update(|v| {
            v.running = false;
            v.streaming = None;
            v.approval = None;
            v.review = None;
        });
        STOP.with(|s| *s.borrow_mut() = None);
        crate::ui::actions::refresh_tree(state);
    });
}

async fn drive(state: IdeState, model: &str, flag: Rc<Cell<bool>>) {
    let a = state.assistant;
    loop {
        let Some(next) = a.agent.with_untracked(|v| v.run.as_ref().map(Run::next)) else {
            return;
        };
        if stopped() && !matches!(next, Next::Done(_)) {
            update_run(state, Run::stop);
            continue;
        }
        match next {
            Next::Done(_) => return,
            Next::Ask => {
                let messages = a
                    .agent
                    .with_untracked(|v| v.run.as_ref().map(|r| r.messages().to_vec()))
                    .unwrap_or_default();
                let mut outcome = ask(state, model, &messages, false, &flag).await;
                // A call that does not fit the schemas, or is written in a form that cannot be
                // read, is asked for again, decoded under the tools' schemas from its first
                // token: what runs is valid by construction.
                if let Ok(o) = &outcome
                    && o.stop != "cancelled"
                    && meant_a_call(&o.text, &o.tool_calls)
                {
                    outcome = ask(state, model, &messages, true, &flag).await;
                }
                a.agent.update(|v| v.streaming = None);
                match outcome {
                    Ok(o) if o.stop == "cancelled" => update_run(state, Run::stop),
                    Ok(o) => update_run(state, |r| r.model_answered(&o.text, o.tool_calls)),
                    Err(e) => update_run(state, |r| {
                        r.fail(crate::model::errors::explain("answering", &e))
                    }),
                }
            }
            Next::Step(index) => {
                update_run(state, |r| r.step_started(index));
                let Some((tool, arguments)) = a.agent.with_untracked(|v| {
                    v.run
                        .as_ref()
                        .and_then(|r| r.steps().get(index))
                        .map(|s| (s.tool.clone(), s.arguments.clone()))
                }) else {
                    return;
                };
                let started = js_sys::Date::now();
                let outcome = match tool.as_str() {
                    "apply_edit" => edit(state, index, &arguments).await,
                    "run_command" => command(state, index, &arguments).await,
                    _ => simple(state, index, &tool, &arguments).await,
                };
                let ms = js_sys::Date::now() - started;
                match outcome {
                    Some(outcome) if !stopped() => {
                        update_run(state, |r| r.step_finished(index, outcome, ms))
                    }
                    _ => update_run(state, Run::stop),
                }
            }
        }
    }
}

/// One model turn, streamed into the transcript and audited.
async fn ask(
    state: IdeState,
    model: &str,
    messages: &[airlock_inference::chat::Message],
    force_call: bool,
    flag: &Rc<Cell<bool>>,
) -> Result<backend::Outcome, String> {
    let a = state.assistant;
    a.agent.update(|v| v.streaming = Some(String::new()));
    let outcome = backend::generate(
        model,
        Prompt::Agent {
            messages: messages.to_vec(),
            tools: tools::declarations(),
            force_call,
        },
        Params {
            max_tokens: MAX_TURN_TOKENS,
            temperature: 0.0,
            stop: Vec::new(),
        },
        flag.clone(),
        &mut |piece| {
            a.agent.update(|v| {
                if let Some(s) = v.streaming.as_mut() {
                    s.push_str(piece);
                }
            })
        },
    )
    .await;
    super::audit::record(
        "agent",
        model,
        outcome.as_ref().map_err(String::as_str),
        None,
    );
    outcome
}

/// Whether an answer should be asked again under the schema constraint: it holds a call that
/// cannot be read or does not fit the tools' schemas, or looks like a call in another form.
fn meant_a_call(
    text: &str,
    calls: &[Result<airlock_inference::tool_calls::ToolCall, String>],
) -> bool {
    let parsed = airlock_inference::tool_calls::parse(text);
    let all: Vec<_> = calls.iter().chain(&parsed.calls).collect();
    if all.is_empty() {
        return airlock_inference::tool_calls::looks_like_a_call(text);
    }
    all.iter().any(|call| match call {
        Ok(call) => tools::check(&call.name, &call.arguments).is_err(),
        Err(_) => true,
    })
}

/// Posts a tool call; a refusal asking for approval shows the appliance's pending approval
/// and waits for the person (or, when `reviewed`, grants it: the person has just accepted
/// exactly this edit in the review). `Err(None)`: stopped.
async fn post(
    state: IdeState,
    index: usize,
    tool: &str,
    arguments: &Value,
    reviewed: bool,
) -> Result<web_sys::Response, Option<Outcome>> {
    let url = format!("{}{tool}", routes::TOOLS);
    let mut body = arguments.clone();
    for _ in 0..2 {
        let controller = web_sys::AbortController::new().map_err(|_| None)?;
        ABORT.with(|a| *a.borrow_mut() = Some(controller.clone()));
        let sent = api::post_stream(&url, &body, &controller.signal()).await;
        if stopped() {
            return Err(None);
        }
        let failure = match sent {
            Ok(response) => return Ok(response),
            Err(failure) => failure,
        };
        let pending = (failure.detail["reason"] == "approval_required")
            .then(|| serde_json::from_value::<PendingApproval>(failure.detail["approval"].clone()))
            .and_then(Result::ok);
        let Some(pending) = pending else {
            return Err(Some(Outcome::Refused(refusal(&failure))));
        };
        let said = if reviewed {
            Said::Answer(Answer::Approve)
        } else {
            state
                .assistant
                .agent
                .update(|v| v.approval = Some((index, pending.clone())));
            let said = person().await;
            state.assistant.agent.update(|v| v.approval = None);
            said.ok_or(None)?
        };
        let answer = match said {
            Said::Answer(answer) => answer,
            Said::Hunks(_) => Answer::Deny,
        };
        let decision = Decision {
            id: pending.id.clone(),
            answer,
        };
        api::post_typed(routes::APPROVALS, &decision)
            .await
            .map_err(|f| Some(Outcome::Refused(refusal(&f))))?;
        if answer == Answer::Deny {
            return Err(Some(Outcome::Denied(String::new())));
        }
        body["approval"] = pending.id.into();
    }
    Err(Some(Outcome::Refused(
        "the appliance asked for approval again after it was granted".into(),
    )))
}

/// The refusal as the model and the person read it.
fn refusal(failure: &ApiFailure) -> String {
    match failure.detail["rule"].as_str() {
        Some(rule) => format!("{} (rule: {rule})", failure.message),
        None => failure.message.clone(),
    }
}

/// `list_dir`, `read_file`, `search`, `propose_edit`, `git`: one JSON answer.
async fn simple(state: IdeState, index: usize, tool: &str, arguments: &Value) -> Option<Outcome> {
    let response = match post(state, index, tool, arguments, false).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    let answer = api::json_of(response).await.unwrap_or(Value::Null);
    let text = readable(tool, &answer);
    update_run(state, |r| r.step_output(index, &text));
    Some(Outcome::Ran(text))
}

/// A tool's JSON answer as text for the model (and the step's output).
fn readable(tool: &str, answer: &Value) -> String {
    let text = |key: &str| answer[key].as_str().unwrap_or_default().to_owned();
    match tool {
        "read_file" => text("content"),
        "propose_edit" => text("diff"),
        "list_dir" => answer["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| match e["kind"].as_str() {
                Some("dir") => format!("{}/", e["name"].as_str().unwrap_or_default()),
                _ => e["name"].as_str().unwrap_or_default().to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        "git" => format!(
            "{}{}{}",
            exit_line(&answer["outcome"]),
            text("stdout"),
            text("stderr")
        ),
        _ => answer.to_string(),
    }
}

fn exit_line(outcome: &Value) -> String {
    if outcome["timed_out"] == true {
        "killed: time limit\n".into()
    } else if outcome["output_limit_exceeded"] == true {
        "killed: too much output\n".into()
    } else if outcome["cancelled"] == true {
        "stopped\n".into()
    } else if outcome.is_null() {
        "the sandbox failed to run the command\n".into()
    } else {
        match outcome["exit_code"].as_i64() {
            Some(code) => format!("exit code {code}\n"),
            None => "killed by a signal\n".into(),
        }
    }
}

/// `run_command`: its output streamed into the step as it comes.
async fn command(state: IdeState, index: usize, arguments: &Value) -> Option<Outcome> {
    let response = match post(state, index, "run_command", arguments, false).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    let mut lines = match api::Lines::new(&response) {
        Ok(lines) => lines,
        Err(e) => return Some(Outcome::Refused(e)),
    };
    let mut output = String::new();
    let mut exit = String::new();
    while let Ok(Some(line)) = lines.next().await {
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        match event["type"].as_str() {
            Some("output") => {
                let piece = event["text"].as_str().unwrap_or_default();
                output.push_str(piece);
                update_run(state, |r| r.step_output(index, piece));
            }
            Some("exit") => exit = exit_line(&event["outcome"]),
            _ => {}
        }
    }
    if stopped() {
        return None;
    }
    update_run(state, |r| {
        r.step_output(index, &format!("[{}]", exit.trim()))
    });
    Some(Outcome::Ran(format!("{exit}{output}")))
}

/// `apply_edit`: the policy's path rules first (`propose_edit`), then the person's per-hunk
/// review, then the write of exactly the accepted text through `apply_edit`.
async fn edit(state: IdeState, index: usize, arguments: &Value) -> Option<Outcome> {
    let path = arguments["path"].as_str().unwrap_or_default().to_owned();
    let proposed = arguments["content"].as_str().unwrap_or_default().to_owned();
    if let Err(outcome) = post(state, index, "propose_edit", arguments, false).await {
        return outcome;
    }
    let (old, base) = match api::get(&api::file_url(&path)).await {
        Ok(file) => (
            Some(file["content"].as_str().unwrap_or_default().to_owned()),
            file["version"].as_str().map(str::to_owned),
        ),
        Err(e) if e.code == "not_found" => (None, None),
        Err(e) => return Some(Outcome::Refused(e.message)),
    };
    let review = Review::new(
        &path,
        old.as_deref().unwrap_or(""),
        &proposed,
        old.is_some(),
    );
    if review.hunks.is_empty() {
        return Some(Outcome::Ran(format!("{path} already has this content")));
    }
    let total = review.hunks.len();
    let unsaved = state
        .tabs
        .with_untracked(|t| t.get(&path).is_some_and(|tab| tab.dirty));
    update_run(state, |r| r.step_output(index, &unified(&review)));
    state.assistant.agent.update(|v| {
        v.review = Some((index, review.clone()));
        v.unsaved = unsaved;
    });
    let said = person().await;
    state.assistant.agent.update(|v| v.review = None);
    let accepted = match said? {
        Said::Hunks(accepted) => accepted,
        Said::Answer(_) => vec![false; total],
    };
    let mut review = review;
    review.accepted = accepted;
    let count = review.accepted_count();
    if count == 0 {
        return Some(Outcome::Denied("rejected every change to this file".into()));
    }
    let content = review.result();
    let body = json!({ "path": path, "content": content, "base_version": base });
    let response = match post(state, index, "apply_edit", &body, true).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    let answer = api::json_of(response).await.unwrap_or(Value::Null);
    let version = answer["version"].as_str().unwrap_or_default().to_owned();
    state.assistant.agent.update(|v| {
        v.written.push(Written {
            path: path.clone(),
            before: old.clone(),
            version: version.clone(),
        })
    });
    super::audit::record_apply(
        &state
            .assistant
            .active_model
            .get_untracked()
            .unwrap_or_default(),
        &path,
    );
    follow_in_editor(state, &path, &content, &version);
    let mut said = format!("{path} is written ({count} of {total} changes kept).");
    if count < total {
        said.push_str(" The file differs from your proposal; read it before editing it again.");
    }
    if unsaved {
        said.push_str(" The user's unsaved editor text for this file was kept.");
    }
    said.push_str(" Continue with the next part of the task.");
    Some(Outcome::Ran(said))
}

fn unified(review: &Review) -> String {
    review
        .hunks
        .iter()
        .map(|h| h.text.as_str())
        .collect::<Vec<_>>()
        .join("")
}

/// An open tab without unsaved changes shows what was written; one with unsaved changes
/// keeps them (saving then reports the conflict, so nothing is lost).
fn follow_in_editor(state: IdeState, path: &str, content: &str, version: &str) {
    let clean = state
        .tabs
        .with_untracked(|t| t.get(path).is_some_and(|tab| !tab.dirty));
    if !clean {
        return;
    }
    crate::editor::replace(path, content);
    state.tabs.update(|t| {
        if let Some(tab) = t.get_mut(path) {
            tab.version = Some(version.to_owned());
            tab.dirty = false;
        }
    });
}

/// Undoes the last run's writes, newest first; a file changed since is left as it is and
/// named.
pub fn undo(state: IdeState) {
    let written = state.assistant.agent.with_untracked(|v| v.written.clone());
    if written.is_empty() {
        return;
    }
    spawn_local(async move {
        let mut notes = Vec::new();
        let mut left = Vec::new();
        for w in written.iter().rev() {
            let result = match &w.before {
                Some(text) => api::send(
                    "PUT",
                    routes::FS_FILE,
                    &json!({ "path": w.path, "content": text, "base_version": w.version }),
                )
                .await
                .map(|answer| {
                    let version = answer["version"].as_str().unwrap_or_default().to_owned();
                    follow_in_editor(state, &w.path, text, &version);
                }),
                None => remove_created(w).await,
            };
            let model = state
                .assistant
                .active_model
                .get_untracked()
                .unwrap_or_default();
            match result {
                Ok(()) => {
                    notes.push(format!("Undid the agent's change to {}", w.path));
                    super::audit::record_undo(&model, &w.path, "ok");
                }
                Err(e) => {
                    notes.push(format!("Kept {}: {}", w.path, e.message));
                    super::audit::record_undo(&model, &w.path, "kept: changed since");
                    left.push(w.clone());
                }
            }
        }
        left.reverse();
        state.assistant.agent.update(|v| {
            v.written = left;
            v.notes = notes;
        });
        crate::ui::actions::refresh_tree(state);
    });
}

/// Deletes a file the run created, unless it changed since.
async fn remove_created(w: &Written) -> Result<(), ApiFailure> {
    let now = api::get(&api::file_url(&w.path)).await?;
    if now["version"].as_str() != Some(w.version.as_str()) {
        return Err(ApiFailure {
            status: 409,
            code: "conflict".into(),
            message: "it changed after the agent created it".into(),
            detail: Value::Null,
        });
    }
    api::send("POST", routes::FS_DELETE, &json!({ "path": w.path }))
        .await
        .map(|_| ())
}

/// Words for how a run ended.
pub fn ending(end: &End) -> String {
    match end {
        End::Answered => "Done.".into(),
        End::Stopped => "Stopped.".into(),
        End::StepLimit => format!("Stopped after {MAX_STEPS} tool calls (the step limit)."),
        End::Repeating(step) => format!(
            "Stopped: the model kept repeating step {step}, which had already run. Its result is above."
        ),
        End::Failed(why) => why.clone(),
    }
}

/// Words for a step's state.
pub fn state_label(state: &State) -> String {
    match state {
        State::Queued => "queued".into(),
        State::Running => "running".into(),
        State::Done => "done".into(),
        State::Refused(why) => format!("refused: {why}"),
        State::Denied => "denied".into(),
        State::Cancelled => "stopped".into(),
    }
}
