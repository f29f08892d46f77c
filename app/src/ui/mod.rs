//! The IDE layout: top bar, file tree, tabs + editor, status bar, and the conflict prompt.

pub(crate) mod actions;
pub mod assistant;
mod conflict;
mod editor_pane;
mod evidence;
mod keyboard;
mod live;
mod sidebar;
mod statusbar;
mod tabstrip;
mod terminal;
mod topbar;

use std::collections::HashSet;

use leptos::prelude::*;

use crate::model::airgap::AirGap;
use crate::model::tabs::Tabs;
use crate::model::tree::TreeModel;

/// One line in the status bar.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusLine {
    /// The text.
    pub text: String,
    /// Shown as an error.
    pub error: bool,
}

/// A save refused because the file changed on disk since it was read.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    /// The file.
    pub path: String,
    /// Version on disk now (`None`: the file was deleted).
    pub current_version: Option<String>,
    /// Text on disk now, when it is text.
    pub current_content: Option<String>,
}

/// Every piece of IDE state, as signals shared through context.
#[derive(Clone, Copy)]
pub struct IdeState {
    /// The file tree.
    pub tree: RwSignal<TreeModel>,
    /// Expanded folders.
    pub expanded: RwSignal<HashSet<String>>,
    /// The tree row with keyboard/mouse selection.
    pub selected: RwSignal<Option<String>>,
    /// Open tabs.
    pub tabs: RwSignal<Tabs>,
    /// Status bar message.
    pub status: RwSignal<StatusLine>,
    /// Cursor line and column of the active tab.
    pub cursor: RwSignal<(u32, u32)>,
    /// Air-gap indicator state.
    pub airgap: RwSignal<AirGap>,
    /// An unresolved save conflict.
    pub conflict: RwSignal<Option<Conflict>>,
    /// URLs the browser blocked by CSP during this session.
    pub csp_blocked: RwSignal<Vec<String>>,
    /// Workspace folder name.
    pub workspace: RwSignal<String>,
    /// A message shown instead of the editor (binary file, too large…).
    pub notice: RwSignal<Option<String>>,
    /// Whether the terminal panel is shown.
    pub terminal_open: RwSignal<bool>,
    /// The terminal panel's lines.
    pub terminal: RwSignal<Vec<terminal::TermLine>>,
    /// A command is running in the terminal.
    pub terminal_running: RwSignal<bool>,
    /// Whether the Evidence view is shown.
    pub evidence_open: RwSignal<bool>,
    /// The assistant: models, chat, inline completion.
    pub assistant: assistant::state::AssistantState,
}

impl IdeState {
    fn new() -> Self {
        Self {
            tree: RwSignal::new(TreeModel::default()),
            expanded: RwSignal::new(HashSet::new()),
            selected: RwSignal::new(None),
            tabs: RwSignal::new(Tabs::default()),
            status: RwSignal::new(StatusLine::default()),
            cursor: RwSignal::new((1, 1)),
            airgap: RwSignal::new(AirGap::Checking),
            conflict: RwSignal::new(None),
            csp_blocked: RwSignal::new(Vec::new()),
            workspace: RwSignal::new(String::new()),
            notice: RwSignal::new(None),
            terminal_open: RwSignal::new(false),
            terminal: RwSignal::new(Vec::new()),
            terminal_running: RwSignal::new(false),
            evidence_open: RwSignal::new(false),
            assistant: assistant::state::AssistantState::new(),
        }
    }

    /// Shows an informational message in the status bar.
    pub fn say(&self, text: impl Into<String>) {
        self.status.set(StatusLine {
            text: text.into(),
            error: false,
        });
    }

    /// Shows an error in the status bar.
    pub fn complain(&self, text: impl Into<String>) {
        self.status.set(StatusLine {
            text: text.into(),
            error: true,
        });
    }
}

/// The whole IDE.
#[component]
pub fn Ide() -> impl IntoView {
    let state = IdeState::new();
    provide_context(state);
    live::start(state);
    actions::refresh_tree(state);
    crate::assistant::inline::install(state);
    view! {
        <div class="ide" class:with-assistant=move || state.assistant.pane.get().is_some()>
            <topbar::TopBar/>
            <sidebar::Sidebar/>
            <main class="main">
                <tabstrip::TabStrip/>
                <editor_pane::EditorPane/>
                <terminal::TerminalPanel/>
            </main>
            <assistant::AssistantPanel/>
            <statusbar::StatusBar/>
            <conflict::ConflictDialog/>
            <evidence::EvidenceView/>
            <assistant::apply::ApplyDialog/>
        </div>
    }
}
