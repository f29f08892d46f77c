//! The agent's tools, as the appliance exposes them: the page (and the model in it) only
//! proposes; every call passes [`guard`] against the workspace policy, runs here, and its
//! output passes the context guard ([`redact`]) before it is returned. There are no web
//! tools, and none can be added at run time: this router is the whole list.

pub mod approvals;
pub mod git_guard;
pub mod guard;
pub mod redact;
mod run_command;
mod search;

use std::sync::Arc;
use std::time::Duration;

use airlock_protocol::approvals::Decision;
use airlock_protocol::routes;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::fs::to_api_error;
use crate::api::json_body::JsonBody;
use crate::audit::layer::append;
use crate::audit::{AuditLog, Entry};
use crate::error::ApiError;
use crate::policy::{Policy, PolicyChange, PolicyStore};
use crate::sandbox::{Collected, CommandSpec, Sandbox, SandboxStatus};
use crate::workspace::Workspace;
use guard::Refusal;

/// Everything the tools need.
#[derive(Clone)]
pub struct ToolsState {
    /// The workspace.
    pub workspace: Arc<Workspace>,
    /// The policy in force (re-read when its file changes).
    pub policy: Arc<PolicyStore>,
    /// The command sandbox and whether it works here.
    pub sandbox: Sandbox,
    /// Measured at start-up; commands are refused when unavailable.
    pub sandbox_status: SandboxStatus,
    /// Where redactions and command exits are recorded.
    pub audit: Arc<AuditLog>,
    /// Actor for those records.
    pub actor: String,
    /// Approvals issued and granted in this session.
    pub approvals: Arc<approvals::Approvals>,
}

/// The names of every tool; the UI and the model get exactly these.
pub const TOOL_NAMES: &[&str] = &[
    "apply_edit",
    "run_command",
    "read_file",
    "list_dir",
    "search",
    "propose_edit",
    "git",
];

/// `/api/tools/*`.
pub fn router(state: ToolsState) -> Router {
    Router::new()
        .route("/api/tools/list_dir", post(list_dir))
        .route("/api/tools/read_file", post(read_file))
        .route("/api/tools/search", post(search::search))
        .route("/api/tools/propose_edit", post(propose_edit))
        .route("/api/tools/apply_edit", post(apply_edit))
        .route("/api/tools/run_command", post(run_command::run_command))
        .route("/api/tools/git", post(git))
        .route(routes::GUARD_SYSTEM_PROMPT, post(filter_system_prompt))
        .route(routes::APPROVALS, post(decide))
        .with_state(state)
}

type ToolResult = Result<Json<Value>, ApiError>;

impl ToolsState {
    /// The policy for this call: re-read if its file changed (the change is audited); a
    /// broken policy refuses every tool.
    async fn policy(&self, tool: &'static str) -> Result<Arc<Policy>, ApiError> {
        let store = self.policy.clone();
        let change = tokio::task::spawn_blocking(move || store.refresh())
            .await
            .unwrap_or(PolicyChange::Unchanged);
        let outcome = match &change {
            PolicyChange::Unchanged => None,
            PolicyChange::Changed { old_hash, new_hash } => {
                Some(format!("ok: {old_hash} -> {new_hash}"))
            }
            PolicyChange::Broken(why) => Some(format!("error: {why}; tools refused until fixed")),
        };
        if let Some(outcome) = outcome {
            let entry = Entry {
                actor: self.actor.clone(),
                action: "policy.change".into(),
                target: crate::policy::WORKSPACE_POLICY.into(),
                outcome,
            };
            append(&self.audit, entry).await;
        }
        self.policy.current().map_err(|why| {
            Refusal::new(
                tool,
                "policy_invalid",
                format!("the policy file is invalid, so tools are disabled: {why}"),
            )
            .into()
        })
    }

    /// Redacts `text` by policy and records each rule that fired.
    async fn guard_output(
        &self,
        policy: &Policy,
        tool: &str,
        target: &str,
        text: &str,
    ) -> (String, Vec<redact::Redaction>) {
        let (clean, fired) = redact::redact(policy, text);
        for redaction in &fired {
            let entry = Entry {
                actor: self.actor.clone(),
                action: "guard.redact".into(),
                target: format!("{tool}:{target}"),
                outcome: format!("rule={} count={}", redaction.rule, redaction.count),
            };
            append(&self.audit, entry).await;
        }
        (clean, fired)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Workspace) -> Result<T, crate::workspace::FileError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let workspace = self.workspace.clone();
        tokio::task::spawn_blocking(move || work(&workspace))
            .await
            .map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })?
            .map_err(to_api_error)
    }
}

/// Body of `list_dir`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathArgs {
    #[serde(default)]
    path: String,
    /// A granted approval for exactly this call, when the policy asks for one.
    #[serde(default)]
    approval: Option<String>,
}

impl PathArgs {
    fn call(&self, tool: &'static str) -> guard::Call<'_> {
        guard::Call {
            tool,
            args: json!({ "path": self.path }),
            shown: format!("{tool} {}", self.path),
            approval: self.approval.as_deref(),
        }
    }
}

async fn list_dir(
    State(state): State<ToolsState>,
    JsonBody(args): JsonBody<PathArgs>,
) -> ToolResult {
    let policy = state.policy("list_dir").await?;
    guard::path_tool(
        &policy,
        state.workspace.root(),
        &state.approvals,
        &args.call("list_dir"),
        &args.path,
    )?;
    let path = args.path.clone();
    let entries = state
        .blocking(move |ws| {
            let real = ws.root().resolve_existing(&path)?;
            // Children are judged by where they really are too (`path` may be a symlink).
            let real_rel = ws.root().relative_of(&real).unwrap_or_default();
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(&real)
                .map_err(|e| crate::workspace::FileError::Io(path.clone(), e))?
            {
                let entry = entry.map_err(|e| crate::workspace::FileError::Io(path.clone(), e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}/{name}")
                };
                let real_child = if real_rel.is_empty() {
                    name.clone()
                } else {
                    format!("{real_rel}/{name}")
                };
                if name == ".git" || policy.path_denied(&child) || policy.path_denied(&real_child) {
                    continue;
                }
                let kind = match entry.file_type() {
                    Ok(t) if t.is_dir() => "dir",
                    Ok(t) if t.is_symlink() => "symlink",
                    _ => "file",
                };
                entries.push(json!({ "name": name, "kind": kind }));
            }
            entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            Ok(entries)
        })
        .await?;
    Ok(Json(json!({ "path": args.path, "entries": entries })))
}

async fn read_file(
    State(state): State<ToolsState>,
    JsonBody(args): JsonBody<PathArgs>,
) -> ToolResult {
    let policy = state.policy("read_file").await?;
    guard::path_tool(
        &policy,
        state.workspace.root(),
        &state.approvals,
        &args.call("read_file"),
        &args.path,
    )?;
    let path = args.path.clone();
    let file = state.blocking(move |ws| ws.read(&path)).await?;
    let (content, redactions) = state
        .guard_output(&policy, "read_file", &args.path, &file.content)
        .await;
    Ok(Json(
        json!({ "path": file.path, "content": content, "version": file.version, "redactions": redactions }),
    ))
}

/// Body of `propose_edit` and `apply_edit`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditArgs {
    path: String,
    content: String,
    #[serde(default)]
    base_version: Option<String>,
    /// A granted approval for exactly this edit, when the policy asks for one.
    #[serde(default)]
    approval: Option<String>,
}

/// Returns the unified diff the edit would make, and the version it is based on. Writes nothing.
async fn propose_edit(
    State(state): State<ToolsState>,
    JsonBody(args): JsonBody<EditArgs>,
) -> ToolResult {
    let policy = state.policy("propose_edit").await?;
    guard::path_rules(&policy, state.workspace.root(), "propose_edit", &args.path)?;
    let (diff, base_version) = state.diff(&args.path, &args.content).await?;
    let (diff, redactions) = state
        .guard_output(&policy, "propose_edit", &args.path, &diff)
        .await;
    Ok(Json(
        json!({ "path": args.path, "base_version": base_version, "diff": diff, "redactions": redactions }),
    ))
}

impl ToolsState {
    /// The unified diff writing `content` to `path` would make, and the version it is
    /// based on (`None`: a new file).
    async fn diff(&self, path: &str, content: &str) -> Result<(String, Option<String>), ApiError> {
        let owned = path.to_owned();
        let current = self
            .blocking(move |ws| match ws.read(&owned) {
                Ok(file) => Ok(Some(file)),
                Err(crate::workspace::FileError::Path(crate::workspace::PathError::NotFound(
                    _,
                ))) => Ok(None),
                Err(e) => Err(e),
            })
            .await?;
        let (old, base_version) = current
            .map(|f| (f.content, Some(f.version)))
            .unwrap_or_default();
        let diff = similar::TextDiff::from_lines(old.as_str(), content)
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{path}"), &format!("b/{path}"))
            .to_string();
        Ok((diff, base_version))
    }
}

/// Applies an edit with the editor's atomic, versioned write (approval per policy, shown
/// as the diff it makes).
async fn apply_edit(
    State(state): State<ToolsState>,
    JsonBody(args): JsonBody<EditArgs>,
) -> ToolResult {
    let policy = state.policy("apply_edit").await?;
    guard::path_rules(&policy, state.workspace.root(), "apply_edit", &args.path)?;
    if policy.needs_approval("apply_edit") {
        let (diff, _) = state.diff(&args.path, &args.content).await?;
        let call = guard::Call {
            tool: "apply_edit",
            args: json!({ "path": args.path, "content": args.content, "base_version": args.base_version }),
            shown: redact::redact(&policy, &diff).0,
            approval: args.approval.as_deref(),
        };
        guard::approval(&policy, &state.approvals, &call)?;
    }
    let (path, content, base) = (args.path.clone(), args.content, args.base_version);
    let version = state
        .blocking(move |ws| {
            ws.write(&path, &content, base.as_deref())
                .map_err(|error| match error {
                    // The text on disk goes back to the model: redacted like any tool answer.
                    crate::workspace::FileError::Conflict {
                        base,
                        current,
                        current_content,
                    } => crate::workspace::FileError::Conflict {
                        base,
                        current,
                        current_content: current_content.map(|c| redact::redact(&policy, &c).0),
                    },
                    other => other,
                })
        })
        .await?;
    Ok(Json(json!({ "path": args.path, "version": version })))
}

/// Body of `/api/guard/system_prompt`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptArgs {
    text: String,
}

/// Filters a system prompt before the page hands it to the model: lines pointing at external
/// URLs are dropped (and the drop audited), secrets and remaining URLs redacted.
async fn filter_system_prompt(
    State(state): State<ToolsState>,
    JsonBody(args): JsonBody<PromptArgs>,
) -> ToolResult {
    let policy = state.policy("system_prompt").await?;
    let (kept, removed) = redact::strip_external_url_lines(&args.text);
    if removed > 0 {
        let entry = Entry {
            actor: state.actor.clone(),
            action: "guard.prompt_filter".into(),
            target: "system prompt".into(),
            outcome: format!("dropped {removed} line(s) referencing external URLs"),
        };
        append(&state.audit, entry).await;
    }
    let (text, redactions) = state
        .guard_output(&policy, "system_prompt", "system prompt", &kept)
        .await;
    Ok(Json(
        json!({ "text": text, "dropped_lines": removed, "redactions": redactions }),
    ))
}

/// Body of `git`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitArgs {
    args: Vec<String>,
    /// A granted approval for exactly these arguments, when the policy asks for one.
    #[serde(default)]
    approval: Option<String>,
}

/// Most output a git call returns.
const GIT_MAX_OUTPUT: usize = 1 << 20;

async fn git(State(state): State<ToolsState>, JsonBody(body): JsonBody<GitArgs>) -> ToolResult {
    git_guard::check(&body.args).map_err(|reason| Refusal::new("git", "git_not_local", reason))?;
    let policy = state.policy("git").await?;
    let call = guard::Call {
        tool: "git",
        args: json!({ "args": body.args }),
        shown: format!("git {}", body.args.join(" ")),
        approval: body.approval.as_deref(),
    };
    guard::approval(&policy, &state.approvals, &call)?;
    guard::sandbox_ready(&state.sandbox_status)?;
    let mut argv = vec!["git".to_owned()];
    argv.extend(
        git_guard::SAFE_CONFIG
            .iter()
            .flat_map(|c| ["-c".to_owned(), (*c).to_owned()]),
    );
    argv.extend(body.args.iter().cloned());
    let spec = CommandSpec {
        argv,
        cwd: state.workspace.root().path().to_owned(),
        timeout: Duration::from_secs(60),
        max_output_bytes: GIT_MAX_OUTPUT,
        extra_env: [("GIT_TERMINAL_PROMPT", "0"), ("GIT_CONFIG_NOSYSTEM", "1")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec(),
        writable_git: true,
    };
    let Collected {
        outcome,
        stdout,
        stderr,
    } = state.sandbox.run_collected(&spec).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "sandbox_failed",
            e.to_string(),
        )
    })?;
    let target = redact::redact(&policy, &body.args.join(" ")).0;
    let (stdout, mut redactions) = state.guard_output(&policy, "git", &target, &stdout).await;
    let (stderr, more) = state.guard_output(&policy, "git", &target, &stderr).await;
    redactions.extend(more);
    Ok(Json(
        json!({ "outcome": outcome, "stdout": stdout, "stderr": stderr, "redactions": redactions }),
    ))
}

/// A person's decision on a pending approval (audited as `approval.decide`, with what was
/// shown named in an `approval.granted` / `approval.denied` record).
async fn decide(
    State(state): State<ToolsState>,
    JsonBody(decision): JsonBody<Decision>,
) -> ToolResult {
    let Some((tool, shown)) = state.approvals.decide(&decision.id, decision.answer) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "approval_unknown",
            "this approval is unknown or has expired; ask for the call again",
        ));
    };
    let policy = state.policy("approvals").await?;
    let action = match decision.answer {
        airlock_protocol::approvals::Answer::Deny => "approval.denied",
        airlock_protocol::approvals::Answer::Approve => "approval.granted",
        airlock_protocol::approvals::Answer::AlwaysThisSession => "approval.granted_for_session",
    };
    let entry = Entry {
        actor: state.actor.clone(),
        action: action.into(),
        target: format!(
            "{tool}: {}",
            redact::redact(&policy, &shown)
                .0
                .lines()
                .next()
                .unwrap_or("")
        ),
        outcome: "ok".into(),
    };
    append(&state.audit, entry).await;
    Ok(Json(
        json!({ "id": decision.id, "answer": decision.answer }),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_model_is_offered_exactly_these_tools() {
        let offered: Vec<&str> = airlock_protocol::tools::TOOLS
            .iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(offered, super::TOOL_NAMES);
    }
}
