//! `run_command`: runs a shell command line in the network-free sandbox and streams its
//! output to the page as newline-delimited JSON, ending with the exit record. A dropped
//! connection cancels the command (its whole namespace is killed).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::{ToolsState, guard};
use crate::api::json_body::JsonBody;
use crate::audit::Entry;
use crate::audit::layer::append;
use crate::error::ApiError;
use crate::sandbox::{CommandSpec, RunEvent};

/// Default and largest time limits, in seconds.
const DEFAULT_TIMEOUT_SECS: u64 = 60;
const MAX_TIMEOUT_SECS: u64 = 600;
/// Output beyond this stops the command.
const MAX_OUTPUT_BYTES: usize = 4 << 20;

/// Body of `run_command`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    command: String,
    #[serde(default)]
    timeout_secs: Option<u64>,
    /// A granted approval for exactly this command line, when the policy asks for one.
    #[serde(default)]
    approval: Option<String>,
}

pub(super) async fn run_command(
    State(state): State<ToolsState>,
    JsonBody(args): JsonBody<RunArgs>,
) -> Result<Response, ApiError> {
    let policy = state.policy("run_command").await?;
    let call = guard::Call {
        tool: "run_command",
        args: json!({ "command": args.command }),
        shown: args.command.clone(),
        approval: args.approval.as_deref(),
    };
    guard::command(&policy, &state.approvals, &call, &args.command)?;
    guard::sandbox_ready(&state.sandbox_status)?;
    let timeout = Duration::from_secs(
        args.timeout_secs
            .unwrap_or(DEFAULT_TIMEOUT_SECS)
            .clamp(1, MAX_TIMEOUT_SECS),
    );
    let spec = CommandSpec {
        argv: ["/bin/bash", "--noprofile", "--norc", "-c", &args.command]
            .map(String::from)
            .to_vec(),
        cwd: state.workspace.root().path().to_owned(),
        timeout,
        max_output_bytes: MAX_OUTPUT_BYTES,
        extra_env: Vec::new(),
        writable_git: false,
    };
    let (lines_tx, lines_rx) = mpsc::channel::<String>(64);
    let (events_tx, mut events_rx) = mpsc::channel::<RunEvent>(64);
    let (cancel_tx, cancel_rx) = watch::channel(false);
    // What the audit log and the redaction records name: the line with secrets redacted.
    let command = super::redact::redact(&policy, &args.command).0;
    tokio::spawn(async move {
        let sandbox = state.sandbox.clone();
        let runner = tokio::spawn(async move { sandbox.run(&spec, events_tx, cancel_rx).await });
        while let Some(RunEvent::Output { stream, text }) = events_rx.recv().await {
            let (text, _) = state
                .guard_output(&policy, "run_command", &command, &text)
                .await;
            let line =
                json!({ "type": "output", "stream": stream, "text": text }).to_string() + "\n";
            if lines_tx.send(line).await.is_err() {
                let _ = cancel_tx.send(true);
            }
        }
        let outcome = runner.await.ok().and_then(Result::ok);
        let summary = match &outcome {
            Some(o) if o.timed_out => "timed_out".to_owned(),
            Some(o) if o.output_limit_exceeded => "output_limit_exceeded".to_owned(),
            Some(o) if o.cancelled => "cancelled".to_owned(),
            Some(o) => format!(
                "exit={}",
                o.exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "signal".into())
            ),
            None => "sandbox_failed".to_owned(),
        };
        let entry = Entry {
            actor: state.actor.clone(),
            action: "command.exit".into(),
            target: command,
            outcome: summary,
        };
        append(&state.audit, entry).await;
        let last = json!({ "type": "exit", "outcome": outcome }).to_string() + "\n";
        let _ = lines_tx.send(last).await;
    });
    let stream = futures_util::stream::unfold(lines_rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, Infallible>(line), rx))
    });
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
