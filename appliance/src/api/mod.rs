//! The authenticated JSON API the IDE talks to. Handlers only translate HTTP to workspace
//! calls; guard, authentication and headers are the layers' job.

pub mod chats;
pub mod events;
pub mod evidence;
pub mod fs;
pub mod json_body;
pub mod llm;
pub mod models;
pub mod status;

use std::sync::Arc;

use airlock_protocol::routes;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::audit::AuditLog;
use crate::workspace::Workspace;
use crate::workspace::files::MAX_EDITABLE_BYTES;

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The one workspace this appliance exposes.
    pub workspace: Arc<Workspace>,
    /// Facts about this launch that the status report shows.
    pub launch: Arc<status::LaunchFacts>,
    /// The audit log, whose health the status report includes.
    pub audit: Arc<AuditLog>,
    /// The command sandbox, whose running commands the status and evidence include.
    pub sandbox: crate::sandbox::Sandbox,
    /// The model store (`--models`), if any.
    pub models: Option<Arc<crate::models::ModelStore>>,
    /// This workspace's conversations.
    pub chats: Arc<crate::chats::ChatStore>,
    /// The session id audit records name (never the token).
    pub actor: String,
    /// How team-server names are resolved (the system's resolver outside tests).
    pub resolver: Arc<dyn crate::upstream::resolve::Resolve>,
}

/// Largest request body: a maximal file, JSON-escaped, plus room for the other fields.
pub const MAX_BODY_BYTES: usize = (MAX_EDITABLE_BYTES as usize) * 2 + 64 * 1024;

/// All `/api` routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(routes::STATUS, get(status::report))
        .route(routes::POLICY_CONFIRM, post(status::confirm_policy))
        .route(routes::MODELS, get(models::list))
        .route(routes::MODEL_FILE, get(models::file))
        .route(routes::CHATS, get(chats::list).post(chats::save))
        .route(routes::CHAT, get(chats::get))
        .route(routes::CHAT_DELETE, post(chats::delete))
        .route(routes::ASSISTANT_LOG, post(chats::log))
        .route(routes::LLM_MODELS, get(llm::models))
        .route(routes::LLM_CHAT, post(llm::chat))
        .route(routes::LLM_COMPLETIONS, post(llm::completions))
        .route(routes::EVENTS, get(events::connect))
        .route(routes::EVIDENCE, get(evidence::view))
        .route(routes::EVIDENCE_PACK, get(evidence::export_pack))
        .route(routes::FS_TREE, get(fs::tree))
        .route(routes::FS_FILE, get(fs::read).put(fs::write))
        .route(routes::FS_CREATE, post(fs::create))
        .route(routes::FS_RENAME, post(fs::rename))
        .route(routes::FS_DELETE, post(fs::delete))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
