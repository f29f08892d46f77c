//! `search`: literal or regex search over the workspace, `.gitignore`-aware, skipping
//! policy-denied paths, binary and very large files, with an explicit result limit.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::json;

use super::{ToolResult, ToolsState, guard};
use crate::api::json_body::JsonBody;
use crate::error::ApiError;

/// Most results a call may ask for.
pub const MAX_RESULTS: usize = 1000;
/// Files larger than this are not searched.
const MAX_SEARCHED_BYTES: u64 = 1 << 20;
/// Longest line text returned per match.
const MAX_LINE_CHARS: usize = 300;

/// Body of `search`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    query: String,
    #[serde(default)]
    regex: bool,
    #[serde(default)]
    case_sensitive: bool,
    #[serde(default = "default_max")]
    max_results: usize,
    /// A granted approval for exactly this search, when the policy asks for one.
    #[serde(default)]
    approval: Option<String>,
}

fn default_max() -> usize {
    100
}

pub(super) async fn search(
    State(state): State<ToolsState>,
    JsonBody(args): JsonBody<SearchArgs>,
) -> ToolResult {
    let policy = state.policy("search").await?;
    let call = guard::Call {
        tool: "search",
        args: serde_json::json!({ "query": args.query, "regex": args.regex, "case_sensitive": args.case_sensitive }),
        shown: format!("search {}", args.query),
        approval: args.approval.as_deref(),
    };
    guard::approval(&policy, &state.approvals, &call)?;
    if args.query.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the search query is empty",
        ));
    }
    let source = if args.regex {
        args.query.clone()
    } else {
        regex::escape(&args.query)
    };
    let pattern: Regex = RegexBuilder::new(&source)
        .case_insensitive(!args.case_sensitive)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_regex", e.to_string()))?;
    let limit = args.max_results.clamp(1, MAX_RESULTS);
    let root = state.workspace.root().clone();
    let walk_policy = policy.clone();
    let (matches, truncated) = tokio::task::spawn_blocking(move || {
        let mut matches = Vec::new();
        let walker = ignore::WalkBuilder::new(root.path())
            .hidden(false)
            .git_global(false)
            .require_git(false)
            .follow_links(false)
            .filter_entry(|e| e.file_name() != ".git")
            .build();
        for entry in walker.flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file())
                || entry.metadata().map(|m| m.len()).unwrap_or(u64::MAX) > MAX_SEARCHED_BYTES
            {
                continue;
            }
            let Some(path) = root.relative_of(entry.path()) else {
                continue;
            };
            if walk_policy.path_denied(&path) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            for (index, line) in text.lines().enumerate() {
                if pattern.is_match(line) {
                    if matches.len() == limit {
                        return (matches, true);
                    }
                    let shown: String = line.chars().take(MAX_LINE_CHARS).collect();
                    matches.push((path.clone(), index + 1, shown));
                }
            }
        }
        (matches, false)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let mut results = Vec::with_capacity(matches.len());
    let mut redactions = Vec::new();
    for (path, line, text) in matches {
        let (text, fired) = state.guard_output(&policy, "search", &path, &text).await;
        redactions.extend(fired);
        results.push(json!({ "path": path, "line": line, "text": text }));
    }
    Ok(Json(
        json!({ "query": args.query, "results": results, "truncated": truncated, "redactions": redactions }),
    ))
}
