//! The explorer: a toolbar for file operations and the lazily rendered file tree.

use leptos::prelude::*;

use super::{IdeState, actions, keyboard};
use crate::model::tree::{Node, NodeKind};

/// Sidebar component.
#[component]
pub fn Sidebar() -> impl IntoView {
    let state = expect_context::<IdeState>();
    view! {
        <nav class="sidebar" aria-label="Explorer">
            <div class="sidebar-head">
                <span>"Explorer"</span>
                <span class="spacer"></span>
                <button class="icon-button" title="New file" on:click=move |_| actions::create_entry(state, false)>"+File"</button>
                <button class="icon-button" title="New folder" on:click=move |_| actions::create_entry(state, true)>"+Dir"</button>
                <button class="icon-button" title="Rename selected (F2)" on:click=move |_| actions::rename_selected(state)>"Ren"</button>
                <button class="icon-button" title="Delete selected" on:click=move |_| actions::delete_selected(state)>"Del"</button>
                <button class="icon-button" title="Refresh" on:click=move |_| actions::refresh_tree(state)>"⟳"</button>
            </div>
            <div class="tree" role="tree" aria-label="Workspace files" on:keydown=move |ev| keyboard::on_tree_key(state, ev)>
                {tree_level(state, String::new())}
                <Show when=move || state.tree.with(|t| t.truncated)>
                    <div class="tree-note">{move || format!("Showing the first {} entries only", state.tree.with(|t| t.total))}</div>
                </Show>
            </div>
        </nav>
    }
}

/// The children of `dir`, rendered only when `dir` is visible.
fn tree_level(state: IdeState, dir: String) -> AnyView {
    view! {
        <ul role="group">
            <For
                each=move || state.tree.with(|t| t.children(&dir).to_vec())
                key=|node| (node.path.clone(), node.kind as u8)
                let:node
            >
                {tree_item(state, node)}
            </For>
        </ul>
    }
    .into_any()
}

fn tree_item(state: IdeState, node: Node) -> AnyView {
    let is_dir = node.kind == NodeKind::Dir;
    let path = node.path.clone();
    let expanded = {
        let path = path.clone();
        Memo::new(move |_| state.expanded.with(|e| e.contains(&path)))
    };
    let selected = {
        let path = path.clone();
        move || state.selected.with(|s| s.as_deref() == Some(path.as_str()))
    };
    let on_click = {
        let path = path.clone();
        move |_| {
            state.selected.set(Some(path.clone()));
            if is_dir {
                state.expanded.update(|e| {
                    if !e.remove(&path) {
                        e.insert(path.clone());
                    }
                });
            } else {
                actions::open_file(state, path.clone());
            }
        }
    };
    let children_path = path.clone();
    view! {
        <li role="treeitem" aria-expanded=move || is_dir.then(|| expanded.get().to_string())>
            <button
                class="tree-row"
                class:dir=is_dir
                class:symlink=node.kind == NodeKind::Symlink
                class:selected=selected
                data-path=path.clone()
                title=path.clone()
                on:click=on_click
            >
                <span class="twisty">{move || if !is_dir { "" } else if expanded.get() { "▾" } else { "▸" }}</span>
                <span class="name">{node.name.clone()}</span>
            </button>
            {move || (is_dir && expanded.get()).then(|| tree_level(state, children_path.clone()))}
        </li>
    }
    .into_any()
}
