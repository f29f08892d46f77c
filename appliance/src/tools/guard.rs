//! The pre-execution guard: every tool call is checked against the policy before it runs,
//! and refused with a structured answer the UI can show (tool, reason, rule).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use airlock_protocol::approvals::PendingApproval;

use super::approvals::{Approvals, digest};
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
    approval: Option<Box<PendingApproval>>,
}

/// One tool call as the guard judges it.
pub struct Call<'a> {
    /// The tool.
    pub tool: &'static str,
    /// The arguments that decide what happens (the approval is bound to exactly these).
    pub args: serde_json::Value,
    /// What a person approving it is shown: the command, the git arguments, the diff.
    pub shown: String,
    /// The approval id the call carries, if any.
    pub approval: Option<&'a str>,
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
            approval: None,
        }
    }

    fn with_rule(mut self, rule: Option<String>) -> Self {
        self.rule = rule;
        self
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        ApiError::new(r.status, "tool_refused", r.message).with_detail(
            json!({ "tool": r.tool, "reason": r.reason, "rule": r.rule, "approval": r.approval }),
        )
    }
}

/// Lets a call run only with a person's approval of exactly this call: one granted for the
/// session, or the one-time id of a granted approval. Otherwise the refusal carries a new
/// pending approval showing what would run.
fn approved(approvals: &Approvals, call: &Call, why: String) -> Result<(), Refusal> {
    let digest = digest(call.tool, &call.args);
    if approvals.admit(call.tool, &digest, call.approval) {
        return Ok(());
    }
    let mut refusal = Refusal::new(call.tool, "approval_required", why);
    refusal.approval = Some(Box::new(approvals.request(
        call.tool,
        &digest,
        call.shown.clone(),
    )));
    Err(refusal)
}

/// Refuses a call that needs approval under the policy and does not carry it.
pub fn approval(policy: &Policy, approvals: &Approvals, call: &Call) -> Result<(), Refusal> {
    if !policy.needs_approval(call.tool) {
        return Ok(());
    }
    let why = format!(
        "{} needs your approval under this workspace's policy",
        call.tool
    );
    approved(approvals, call, why)
}

/// Checks a tool that takes a workspace path: [`path_rules`], then approval.
pub fn path_tool(
    policy: &Policy,
    root: &WorkspaceRoot,
    approvals: &Approvals,
    call: &Call,
    path: &str,
) -> Result<(), Refusal> {
    path_rules(policy, root, call.tool, path)?;
    approval(policy, approvals, call)
}

/// The policy's path rules: syntax, denied patterns on the path as written and on where
/// its symlinks lead.
pub fn path_rules(
    policy: &Policy,
    root: &WorkspaceRoot,
    tool: &'static str,
    path: &str,
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
    Ok(())
}

/// Checks a command line against the policy's command rules (and approval).
pub fn command(
    policy: &Policy,
    approvals: &Approvals,
    call: &Call,
    command: &str,
) -> Result<(), Refusal> {
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
        Verdict::Ask => approved(approvals, call, "this command needs your approval".into())
            .map_err(|r| r.with_rule(rule)),
        Verdict::Allow => approval(policy, approvals, call),
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
