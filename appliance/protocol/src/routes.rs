//! Every API route, named once: the appliance's router and audit layer and the IDE's client
//! all use these constants, and [`AUDITED`] is the one table of what each call is recorded as.

/// The air-gap status report.
pub const STATUS: &str = "/api/status";
/// The WebSocket status feed.
pub const EVENTS: &str = "/api/events";
/// The egress evidence report.
pub const EVIDENCE: &str = "/api/evidence";
/// The evidence pack (a tar archive).
pub const EVIDENCE_PACK: &str = "/api/evidence/pack";
/// The workspace tree.
pub const FS_TREE: &str = "/api/fs/tree";
/// One file: `GET ?path=` reads, `PUT` writes (versioned).
pub const FS_FILE: &str = "/api/fs/file";
/// Creates a file or folder.
pub const FS_CREATE: &str = "/api/fs/create";
/// Renames a file or folder.
pub const FS_RENAME: &str = "/api/fs/rename";
/// Deletes a file or folder.
pub const FS_DELETE: &str = "/api/fs/delete";
/// The system-prompt filter.
pub const GUARD_SYSTEM_PROMPT: &str = "/api/guard/system_prompt";
/// Prefix of the agent's tools: `/api/tools/NAME`.
pub const TOOLS: &str = "/api/tools/";
/// A person's decision on a pending approval ([`crate::approvals::Decision`]).
pub const APPROVALS: &str = "/api/approvals";
/// The user's confirmation of a workspace policy that loosens the defaults.
pub const POLICY_CONFIRM: &str = "/api/policy/confirm";
/// The model store's listing ([`crate::models::ModelList`]).
pub const MODELS: &str = "/api/models";
/// One model file's bytes: `?path=NAME`.
pub const MODEL_FILE: &str = "/api/models/file";
/// Conversations: `GET` lists, `POST` creates or replaces one ([`crate::chat::Conversation`]).
pub const CHATS: &str = "/api/chats";
/// One conversation: `GET ?id=`.
pub const CHAT: &str = "/api/chats/one";
/// Deletes one conversation: `POST {"id": …}`.
pub const CHAT_DELETE: &str = "/api/chats/delete";
/// The assistant's audit records ([`crate::chat::AssistantEvent`]).
pub const ASSISTANT_LOG: &str = "/api/assistant/log";
/// The team server's models ([`crate::llm::LlmModels`]).
pub const LLM_MODELS: &str = "/api/llm/v1/models";
/// A chat call relayed to the team server ([`crate::llm::ChatRequest`]).
pub const LLM_CHAT: &str = "/api/llm/v1/chat/completions";
/// A completion call relayed to the team server ([`crate::llm::CompletionRequest`]).
pub const LLM_COMPLETIONS: &str = "/api/llm/v1/completions";

/// Each audited call: method, path, and the action its audit records carry. Tool calls
/// (`POST /api/tools/NAME`) are `tool.NAME`; any other state-changing `/api` call is
/// recorded too, under its method and path.
pub const AUDITED: &[(&str, &str, &str)] = &[
    ("GET", FS_TREE, "fs.tree"),
    ("GET", FS_FILE, "fs.read"),
    ("PUT", FS_FILE, "fs.write"),
    ("POST", FS_CREATE, "fs.create"),
    ("POST", FS_RENAME, "fs.rename"),
    ("POST", FS_DELETE, "fs.delete"),
    ("GET", EVENTS, "session.events"),
    ("GET", EVIDENCE, "evidence.view"),
    ("GET", EVIDENCE_PACK, "evidence.export"),
    ("POST", GUARD_SYSTEM_PROMPT, "guard.system_prompt"),
    ("POST", APPROVALS, "approval.decide"),
    ("POST", POLICY_CONFIRM, "policy.confirm"),
    ("GET", MODELS, "model.list"),
    ("GET", MODEL_FILE, "model.load"),
    ("GET", CHATS, "chat.list"),
    ("POST", CHATS, "chat.save"),
    ("GET", CHAT, "chat.open"),
    ("POST", CHAT_DELETE, "chat.delete"),
    ("POST", ASSISTANT_LOG, "assistant.log"),
    ("GET", LLM_MODELS, "llm.models"),
    ("POST", LLM_CHAT, "llm.chat"),
    ("POST", LLM_COMPLETIONS, "llm.completion"),
];

/// The audit action of a call, if it is audited (see [`AUDITED`]).
pub fn audit_action(method: &str, path: &str) -> Option<String> {
    if let Some((_, _, action)) = AUDITED.iter().find(|(m, p, _)| *m == method && *p == path) {
        return Some((*action).to_owned());
    }
    if method == "POST"
        && let Some(tool) = path.strip_prefix(TOOLS)
    {
        return Some(format!("tool.{tool}"));
    }
    let changes_state = !matches!(method, "GET" | "HEAD");
    (changes_state && path.starts_with("/api/"))
        .then(|| format!("api.{} {path}", method.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_has_one_action() {
        assert_eq!(audit_action("PUT", FS_FILE).as_deref(), Some("fs.write"));
        assert_eq!(
            audit_action("POST", "/api/tools/run_command").as_deref(),
            Some("tool.run_command")
        );
        assert_eq!(
            audit_action("GET", STATUS),
            None,
            "status polls are not audited"
        );
        assert_eq!(
            audit_action("POST", "/api/unknown").as_deref(),
            Some("api.post /api/unknown")
        );
        for (i, (m, p, _)) in AUDITED.iter().enumerate() {
            assert!(
                !AUDITED[i + 1..]
                    .iter()
                    .any(|(m2, p2, _)| m == m2 && p == p2),
                "{m} {p} listed twice"
            );
        }
    }
}
