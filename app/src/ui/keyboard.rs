//! Keyboard navigation of the file tree: Up/Down move between visible rows, Right expands
//! (or steps into) a folder, Left collapses (or steps out), Home/End jump, Enter opens.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::IdeState;
use crate::model::tree::{NodeKind, parent_of};

/// Handles a keydown inside the tree.
pub fn on_tree_key(state: IdeState, event: leptos::ev::KeyboardEvent) {
    let rows = visible_rows();
    if rows.is_empty() {
        return;
    }
    let focused = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
        .and_then(|e| e.get_attribute("data-path"));
    let index = focused
        .as_ref()
        .and_then(|p| rows.iter().position(|(path, _)| path == p));
    let target = match (event.key().as_str(), index) {
        ("ArrowDown", Some(i)) => Some((i + 1).min(rows.len() - 1)),
        ("ArrowDown", None) | ("Home", _) => Some(0),
        ("ArrowUp", Some(i)) => Some(i.saturating_sub(1)),
        ("End", _) => Some(rows.len() - 1),
        ("ArrowRight", Some(i)) => {
            let path = &rows[i].0;
            if state.tree.with_untracked(|t| t.kind_of(path)) == Some(NodeKind::Dir) {
                if state.expanded.with_untracked(|e| e.contains(path)) {
                    Some((i + 1).min(rows.len() - 1))
                } else {
                    state.expanded.update(|e| {
                        e.insert(path.clone());
                    });
                    None
                }
            } else {
                None
            }
        }
        ("ArrowLeft", Some(i)) => {
            let path = rows[i].0.clone();
            if state.expanded.with_untracked(|e| e.contains(&path)) {
                state.expanded.update(|e| {
                    e.remove(&path);
                });
                None
            } else {
                let parent = parent_of(&path);
                rows.iter().position(|(p, _)| p == parent)
            }
        }
        _ => return,
    };
    event.prevent_default();
    if let Some(target) = target {
        let (path, element) = &rows[target];
        state.selected.set(Some(path.clone()));
        let _ = element.focus();
    }
}

/// Every rendered tree row in document order, with its path.
fn visible_rows() -> Vec<(String, web_sys::HtmlElement)> {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return Vec::new();
    };
    let Ok(list) = document.query_selector_all(".tree .tree-row") else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|node| node.dyn_into::<web_sys::HtmlElement>().ok())
        .filter_map(|element| Some((element.get_attribute("data-path")?, element)))
        .collect()
}
