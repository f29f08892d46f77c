//! What the IDE does in response to the person: open, save, resolve conflicts, and change
//! files. Each action calls the appliance and updates the signals; failures are shown,
//! never swallowed, and the buffer is never dropped on a failed save.

use airlock_protocol::routes;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;

use super::{Conflict, IdeState};
use crate::api::{self, ApiFailure};
use crate::editor;
use crate::model::tabs::Tab;
use crate::model::tree::{Entry, NodeKind, TreeModel, ancestors_of, parent_of};

/// Reloads the file tree from the appliance.
pub fn refresh_tree(state: IdeState) {
    spawn_local(async move {
        match api::get(routes::FS_TREE).await {
            Ok(listing) => {
                let entries: Vec<Entry> =
                    serde_json::from_value(listing["entries"].clone()).unwrap_or_default();
                let truncated = listing["truncated"].as_bool().unwrap_or(false);
                state.tree.set(TreeModel::from_entries(entries, truncated));
            }
            Err(e) => state.complain(format!("Could not list the workspace: {}", e.message)),
        }
    });
}

/// Opens `path` in a tab (or shows its tab).
pub fn open_file(state: IdeState, path: String) {
    if state.tabs.with(|t| t.get(&path).is_some()) {
        show_tab(state, &path);
        return;
    }
    spawn_local(async move {
        match api::get(&api::file_url(&path)).await {
            Ok(file) => {
                let content = file["content"].as_str().unwrap_or_default();
                let language = editor::open(&path, content);
                state.tabs.update(|t| {
                    t.open(Tab {
                        path: path.clone(),
                        version: file["version"].as_str().map(str::to_owned),
                        dirty: false,
                        language,
                    })
                });
                state.notice.set(None);
                state.say(format!("Opened {path}"));
                editor::focus();
            }
            Err(e) => {
                let text = format!("Cannot open {path}: {}", e.message);
                if state.tabs.with(|t| t.active.is_none()) {
                    state.notice.set(Some(text.clone()));
                }
                state.complain(text);
            }
        }
    });
}

/// Makes an open tab visible.
pub fn show_tab(state: IdeState, path: &str) {
    if editor::show(path) {
        state.tabs.update(|t| t.active = Some(path.to_owned()));
        state.selected.set(Some(path.to_owned()));
        editor::focus();
    }
}

/// Closes a tab, asking first when it has unsaved changes.
pub fn close_tab(state: IdeState, path: &str) {
    let dirty = state.tabs.with(|t| t.get(path).is_some_and(|t| t.dirty));
    if dirty
        && !confirm(&format!(
            "{path} has unsaved changes. Close it and discard them?"
        ))
    {
        return;
    }
    editor::close(path);
    let next = state.tabs.try_update(|t| t.close(path)).flatten();
    if let Some(next) = next {
        editor::show(&next);
    }
}

/// Saves the visible tab with the version it was read at.
pub fn save_active(state: IdeState) {
    let Some(tab) = state.tabs.with(|t| t.active_tab().cloned()) else {
        return;
    };
    save(state, tab.path, tab.version);
}

/// Saves an open tab through the versioned write (a conflict opens the conflict prompt).
pub fn save_path(state: IdeState, path: String, base_version: Option<String>) {
    save(state, path, base_version);
}

fn save(state: IdeState, path: String, base_version: Option<String>) {
    let Some(content) = editor::content(&path) else {
        return;
    };
    state.say(format!("Saving {path}…"));
    spawn_local(async move {
        let body = json!({ "path": path, "content": content, "base_version": base_version });
        match api::send("PUT", routes::FS_FILE, &body).await {
            Ok(saved) => {
                let version = saved["version"].as_str().map(str::to_owned);
                state.tabs.update(|t| {
                    if let Some(tab) = t.get_mut(&path) {
                        tab.version = version;
                    }
                });
                editor::mark_saved(&path, &content);
                state.say(format!("Saved {path}"));
                if base_version.is_none() {
                    refresh_tree(state);
                }
            }
            Err(e) if e.code == "conflict" => {
                state.conflict.set(Some(Conflict {
                    path: path.clone(),
                    current_version: e.detail["current_version"].as_str().map(str::to_owned),
                    current_content: e.detail["current_content"].as_str().map(str::to_owned),
                }));
                state.complain(format!("Not saved: {path} changed on disk"));
            }
            Err(e) => {
                if e.code == "audit_unavailable" {
                    super::live::fetch_status(state);
                }
                state.complain(format!("Not saved: {}", e.message));
            }
        }
    });
}

/// The choices offered by the conflict prompt.
pub enum Resolution {
    /// Close the prompt; the buffer stays dirty.
    KeepEditing,
    /// Replace the buffer with the file on disk (undoable).
    TakeTheirs,
    /// Write the buffer over whatever is on disk now.
    KeepMine,
}

/// Acts on the person's choice in the conflict prompt.
pub fn resolve_conflict(state: IdeState, choice: Resolution) {
    let Some(conflict) = state.conflict.get_untracked() else {
        return;
    };
    state.conflict.set(None);
    match choice {
        Resolution::KeepEditing => {
            state.say(format!("{} still has your unsaved changes", conflict.path))
        }
        Resolution::TakeTheirs => {
            if let Some(content) = &conflict.current_content {
                editor::replace(&conflict.path, content);
                state.tabs.update(|t| {
                    if let Some(tab) = t.get_mut(&conflict.path) {
                        tab.version = conflict.current_version.clone();
                        tab.dirty = false;
                    }
                });
                state.say(format!(
                    "Reloaded {} from disk (Ctrl+Z brings your text back)",
                    conflict.path
                ));
            }
        }
        Resolution::KeepMine => save(state, conflict.path, conflict.current_version),
    }
    editor::focus();
}

/// Asks for a name and creates a file (opened afterwards) or a folder next to the selection.
pub fn create_entry(state: IdeState, folder: bool) {
    let base = selected_folder(state);
    let prefix = if base.is_empty() {
        String::new()
    } else {
        format!("{base}/")
    };
    let what = if folder { "folder" } else { "file" };
    let Some(path) = prompt(
        &format!("New {what} path (relative to the workspace)"),
        &prefix,
    ) else {
        return;
    };
    let path = path.trim().trim_matches('/').to_owned();
    if path.is_empty() {
        return;
    }
    spawn_local(async move {
        let body = json!({ "path": path, "kind": if folder { "dir" } else { "file" } });
        match api::send("POST", routes::FS_CREATE, &body).await {
            Ok(_) => {
                state.expanded.update(|e| e.extend(ancestors_of(&path)));
                state.selected.set(Some(path.clone()));
                refresh_tree(state);
                if !folder {
                    open_file(state, path);
                }
            }
            Err(e) => report(state, "Cannot create", &e),
        }
    });
}

/// Asks for a new path for the selected entry and renames it (open tabs follow).
pub fn rename_selected(state: IdeState) {
    let Some(from) = state.selected.get_untracked() else {
        state.complain("Select a file or folder to rename");
        return;
    };
    let Some(to) = prompt("Rename to", &from) else {
        return;
    };
    let to = to.trim().trim_matches('/').to_owned();
    if to.is_empty() || to == from {
        return;
    }
    spawn_local(async move {
        match api::send(
            "POST",
            routes::FS_RENAME,
            &json!({ "from": from, "to": to }),
        )
        .await
        {
            Ok(_) => {
                let moved = state
                    .tabs
                    .try_update(|t| t.rename(&from, &to))
                    .unwrap_or_default();
                for (old, new) in moved {
                    editor::rename(&old, &new);
                }
                state.selected.set(Some(to.clone()));
                state.expanded.update(|e| e.extend(ancestors_of(&to)));
                refresh_tree(state);
                state.say(format!("Renamed {from} to {to}"));
            }
            Err(e) => report(state, "Cannot rename", &e),
        }
    });
}

/// Deletes the selected entry after confirmation; its tabs close.
pub fn delete_selected(state: IdeState) {
    let Some(path) = state.selected.get_untracked() else {
        state.complain("Select a file or folder to delete");
        return;
    };
    let is_dir = state
        .tree
        .with_untracked(|t| t.kind_of(&path) == Some(NodeKind::Dir));
    let open = state.tabs.with_untracked(|t| t.under(&path));
    let unsaved = state
        .tabs
        .with_untracked(|t| open.iter().any(|p| t.get(p).is_some_and(|t| t.dirty)));
    let question = match (is_dir, unsaved) {
        (true, true) => format!(
            "Delete the folder {path} and everything in it? Open files in it have unsaved changes."
        ),
        (true, false) => format!("Delete the folder {path} and everything in it?"),
        (false, true) => format!("Delete {path}? It has unsaved changes."),
        (false, false) => format!("Delete {path}?"),
    };
    if !confirm(&question) {
        return;
    }
    spawn_local(async move {
        match api::send(
            "POST",
            routes::FS_DELETE,
            &json!({ "path": path, "recursive": is_dir }),
        )
        .await
        {
            Ok(_) => {
                for tab in open {
                    editor::close(&tab);
                    let next = state.tabs.try_update(|t| t.close(&tab)).flatten();
                    if let Some(next) = next {
                        editor::show(&next);
                    }
                }
                state.selected.set(None);
                refresh_tree(state);
                state.say(format!("Deleted {path}"));
            }
            Err(e) => report(state, "Cannot delete", &e),
        }
    });
}

fn selected_folder(state: IdeState) -> String {
    let Some(selected) = state.selected.get_untracked() else {
        return String::new();
    };
    if state
        .tree
        .with_untracked(|t| t.kind_of(&selected) == Some(NodeKind::Dir))
    {
        selected
    } else {
        parent_of(&selected).to_owned()
    }
}

fn report(state: IdeState, what: &str, error: &ApiFailure) {
    state.complain(format!("{what}: {}", error.message));
}

fn prompt(message: &str, default: &str) -> Option<String> {
    web_sys::window()?
        .prompt_with_message_and_default(message, default)
        .ok()
        .flatten()
}

fn confirm(message: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.confirm_with_message(message).ok())
        .unwrap_or(false)
}
