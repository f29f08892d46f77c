//! The pre-execution guard: every tool call is checked against the policy before it runs,
//! and refused with a structured answer the UI can show (tool, reason, rule).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::policy::{Policy, Verdict};
use crate::sandbox::SandboxStatus;
use crate::workspace::WorkspaceRoot;

/// A refused tool call.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    tool: &'static str,
    reason: &'static str,
    message: String,
    rule: Option<String>,
}

impl Refusal {
    /// A 403 refusal.
    pub fn new(tool: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            tool,
            reason,
            message: message.into(),
            rule: None,
        }
    }

    fn with_rule(mut self, rule: Option<String>) -> Self {
        self.rule = rule;
        self
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        ApiError::new(self.status, "tool_refused", self.message)
            .with_detail(json!({ "tool": self.tool, "reason": self.reason, "rule": self.rule }))
            .into_response()
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        ApiError::new(r.status, "tool_refused", r.message)
            .with_detail(json!({ "tool": r.tool, "reason": r.reason, "rule": r.rule }))
    }
}

/// Refuses a call that needs approval and does not carry it.
pub fn approval(policy: &Policy, tool: &'static str, approved: bool) -> Result<(), Refusal> {
    if policy.needs_approval(tool) && !approved {
        return Err(Refusal::new(
            tool,
            "approval_required",
            format!("{tool} needs your approval under this workspace's policy"),
        ));
    }
    Ok(())
}

/// Checks a tool that takes a workspace path: syntax, policy path rules (on the path as
/// written and on where its symlinks lead), approval.
pub fn path_tool(
    policy: &Policy,
    root: &WorkspaceRoot,
    tool: &'static str,
    path: &str,
    approved: bool,
) -> Result<(), Refusal> {
    if let Err(e) = WorkspaceRoot::check_syntax(path) {
        return Err(Refusal::new(tool, "path_outside_workspace", e.to_string()));
    }
    if policy.path_denied(path) {
        return Err(Refusal::new(
            tool,
            "path_denied",
            format!("the policy does not let tools touch {path:?}"),
        ));
    }
    // A symlink inside the workspace must not lead to a denied file or to `.airlock/`.
    let real = root
        .resolve_existing(path)
        .or_else(|_| root.resolve_new(path));
    if let Some(target) = real.ok().and_then(|r| root.relative_of(&r))
        && target != path
        && policy.path_denied(&target)
    {
        return Err(Refusal::new(
            tool,
            "path_denied",
            format!("{path:?} leads to {target:?}, which the policy does not let tools touch"),
        ));
    }
    approval(policy, tool, approved)
}

/// Checks a command line against the policy's command rules (and approval).
pub fn command(policy: &Policy, command: &str, approved: bool) -> Result<(), Refusal> {
    if command.trim().is_empty() {
        return Err(Refusal::new(
            "run_command",
            "empty_command",
            "type a command",
        ));
    }
    let (verdict, rule) = policy.command_verdict(command);
    match verdict {
        Verdict::Deny => Err(Refusal::new(
            "run_command",
            "command_denied",
            "the policy forbids this command",
        )
        .with_rule(rule)),
        Verdict::Ask if !approved => Err(Refusal::new(
            "run_command",
            "approval_required",
            "this command needs your approval",
        )
        .with_rule(rule)),
        _ => approval(policy, "run_command", approved),
    }
}

/// Refuses to run anything when the sandbox is not available: no unsandboxed fallback.
pub fn sandbox_ready(status: &SandboxStatus) -> Result<(), Refusal> {
    if status.available {
        return Ok(());
    }
    let mut refusal = Refusal::new(
        "run_command",
        "sandbox_unavailable",
        format!("commands are disabled: {}", status.detail),
    );
    refusal.status = StatusCode::SERVICE_UNAVAILABLE;
    Err(refusal)
}
