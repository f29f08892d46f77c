//! The assistant's signals: models and their loads, the chat, inline completion settings.

use airlock_inference::fit::Limits;
use airlock_protocol::chat::{Conversation, ConversationSummary};
use airlock_protocol::models::ModelSummary;
use leptos::prelude::*;

pub use crate::engine::stream::Progress;
use crate::model::engine_choice::{EngineKind, Preference};

/// Which assistant pane is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The chat.
    Chat,
    /// The model list.
    Models,
}

/// What this browser's WebGPU adapter offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Adapter {
    /// `vendor/architecture` (e.g. `google/swiftshader`).
    pub description: String,
    /// Its limits and `shader-f16`.
    pub limits: Limits,
    /// A software rasteriser (SwiftShader, llvmpipe, WARP): slow.
    pub software: bool,
}

/// A load in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadView {
    /// The model.
    pub name: String,
    /// How far.
    pub progress: Progress,
    /// When it started (ms since the epoch).
    pub started_ms: f64,
}

/// The browser cache's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheView {
    /// SHA-256 keys cached.
    pub entries: Vec<String>,
    /// Bytes this origin uses and may use.
    pub usage: Option<(f64, f64)>,
}

/// A file or selection attached to the next question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chip {
    /// Workspace path.
    pub path: String,
    /// The selection's text, when the chip is a selection.
    pub selection: Option<(u32, u32, String)>,
    /// Attached automatically as the active file (removing it sticks for that file).
    pub auto: bool,
}

impl Chip {
    /// What the user sees.
    pub fn label(&self) -> String {
        match &self.selection {
            Some((from, to, _)) => crate::model::chat::selection_label(&self.path, *from, *to),
            None => self.path.clone(),
        }
    }
}

/// The chat pane's live state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatView {
    /// The conversation shown.
    pub conversation: Option<Conversation>,
    /// The answer being written.
    pub streaming: Option<String>,
    /// Notes from trimming or errors for the last question.
    pub notes: Vec<String>,
    /// The last answer's numbers.
    pub stats: Option<ChatStats>,
    /// The last prompt as the model saw it.
    pub last_prompt: String,
}

/// What the chat's status line says about the last answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChatStats {
    /// Tokens per second written.
    pub speed: f64,
    /// Prompt tokens.
    pub prompt: usize,
    /// Of those, how many the model's cache already held (not run again).
    pub reused: usize,
    /// Tokens written.
    pub output: usize,
    /// The model's context size.
    pub context: usize,
}

impl ChatStats {
    /// The status line.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{:.1} tok/s · context {} of {} tokens",
            self.speed,
            self.prompt + self.output,
            self.context
        );
        if self.reused > 0 {
            line.push_str(&format!(" · {} prompt tokens reused", self.reused));
        }
        line
    }
}

/// How inline completion is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionStatus {
    /// Nothing yet.
    Idle,
    /// A request is running.
    Running,
    /// Ghost text is growing as the model writes it; the first text came after this long.
    Streaming {
        /// Milliseconds from the pause to the first ghost text.
        first_ms: f64,
    },
    /// Ghost text is shown; it took this long.
    Shown {
        /// Milliseconds from the pause to the text.
        ms: f64,
    },
    /// The model had nothing useful.
    Empty {
        /// Milliseconds.
        ms: f64,
    },
    /// The next keystroke cancelled it; the engine stopped after this many tokens.
    Cancelled {
        /// Tokens decoded before the cancel reached the engine.
        tokens: usize,
    },
    /// Completion is off, with the reason.
    Off(String),
}

/// Every assistant signal.
#[derive(Clone, Copy)]
pub struct AssistantState {
    /// The pane shown, if any.
    pub pane: RwSignal<Option<Pane>>,
    /// The store's models.
    pub models: RwSignal<Vec<ModelSummary>>,
    /// Model bytes the appliance served so far.
    pub served_bytes: RwSignal<u64>,
    /// The model chat and completion use.
    pub active_model: RwSignal<Option<String>>,
    /// Models loaded on the GPU.
    pub loaded: RwSignal<Vec<String>>,
    /// The team server's models (empty when none is configured).
    pub team_models: RwSignal<Vec<airlock_protocol::llm::LlmModel>>,
    /// A load in progress.
    pub loading: RwSignal<Option<LoadView>>,
    /// Decode speed measured on this adapter after each load (model, tok/s).
    pub speeds: RwSignal<Vec<(String, f64)>>,
    /// The engine each loaded model runs on and why (model, engine, reason).
    pub engines: RwSignal<Vec<(String, EngineKind, String)>>,
    /// The engine setting for the next loads (kept in the browser).
    pub engine_preference: RwSignal<Preference>,
    /// The last load's message (where it came from, or its error).
    pub load_note: RwSignal<Option<(bool, String)>>,
    /// The adapter, once asked.
    pub adapter: RwSignal<Option<Adapter>>,
    /// The browser cache.
    pub cache: RwSignal<CacheView>,
    /// The chat.
    pub chat: RwSignal<ChatView>,
    /// Stored conversations.
    pub chats: RwSignal<Vec<ConversationSummary>>,
    /// Attachments of the next question.
    pub chips: RwSignal<Vec<Chip>>,
    /// Active files whose automatic chip the user removed.
    pub dismissed: RwSignal<Vec<String>>,
    /// A generation is running.
    pub running: RwSignal<bool>,
    /// Inline completion's state.
    pub completion: RwSignal<CompletionStatus>,
    /// Latency of the last completion, ms.
    pub last_completion_ms: RwSignal<Option<f64>>,
    /// Inline completion on.
    pub completion_enabled: RwSignal<bool>,
    /// Pause before a completion is asked, ms.
    pub completion_debounce_ms: RwSignal<u32>,
    /// A code block waiting for diff review: path, new text, unified diff.
    pub apply: RwSignal<Option<(String, String, String)>>,
    /// The chat pane runs the agent instead of answering.
    pub agent_mode: RwSignal<bool>,
    /// The agent's run.
    pub agent: RwSignal<crate::assistant::agent::AgentView>,
}

impl AssistantState {
    /// Fresh state.
    pub fn new() -> Self {
        Self {
            pane: RwSignal::new(None),
            models: RwSignal::new(Vec::new()),
            served_bytes: RwSignal::new(0),
            active_model: RwSignal::new(None),
            loaded: RwSignal::new(Vec::new()),
            team_models: RwSignal::new(Vec::new()),
            loading: RwSignal::new(None),
            speeds: RwSignal::new(Vec::new()),
            engines: RwSignal::new(Vec::new()),
            engine_preference: RwSignal::new(crate::engine::saved_preference()),
            load_note: RwSignal::new(None),
            adapter: RwSignal::new(None),
            cache: RwSignal::new(CacheView::default()),
            chat: RwSignal::new(ChatView::default()),
            chats: RwSignal::new(Vec::new()),
            chips: RwSignal::new(Vec::new()),
            dismissed: RwSignal::new(Vec::new()),
            running: RwSignal::new(false),
            completion: RwSignal::new(CompletionStatus::Idle),
            last_completion_ms: RwSignal::new(None),
            completion_enabled: RwSignal::new(true),
            completion_debounce_ms: RwSignal::new(350),
            apply: RwSignal::new(None),
            agent_mode: RwSignal::new(false),
            agent: RwSignal::new(Default::default()),
        }
    }
}

impl Default for AssistantState {
    fn default() -> Self {
        Self::new()
    }
}
