//! "Apply to file": a code block becomes the new text of the attached selection (or of the
//! whole file), shown as a diff to accept or reject; accepting saves through the editor's
//! versioned write, so a file changed on disk meanwhile is a conflict as usual.

use airlock_protocol::routes;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;

use crate::api;
use crate::editor;
use crate::model::chat::{apply_block, parse_label};
use crate::ui::IdeState;

/// Opens the diff review for `code` applied to `target` (`path` or `path (lines A-B)`).
pub fn review(state: IdeState, target: String, code: String) {
    spawn_local(async move {
        let (path, lines) = parse_label(&target);
        let old = match editor::content(&path) {
            Some(text) => text,
            None => match api::get(&api::file_url(&path)).await {
                Ok(file) => file["content"].as_str().unwrap_or_default().to_owned(),
                Err(e) if e.code == "not_found" => String::new(),
                Err(e) => {
                    state.complain(format!("Cannot read {path}: {}", e.message));
                    return;
                }
            },
        };
        let new = apply_block(&old, &code, lines);
        if new == old {
            state.say(format!("{path} already has this text"));
            return;
        }
        let diff = similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{path}"), &format!("b/{path}"))
            .to_string();
        state.assistant.apply.set(Some((path, new, diff)));
    });
}

fn accept(state: IdeState) {
    let Some((path, new, _)) = state.assistant.apply.get_untracked() else {
        return;
    };
    state.assistant.apply.set(None);
    let model = state
        .assistant
        .active_model
        .get_untracked()
        .unwrap_or_default();
    let open = state
        .tabs
        .with_untracked(|t| t.get(&path).map(|t| t.version.clone()));
    match open {
        Some(version) => {
            editor::set_content(&path, &new);
            crate::ui::actions::save_path(state, path.clone(), version);
            crate::assistant::audit::record_apply(&model, &path);
        }
        None => spawn_local(async move {
            let base = api::get(&api::file_url(&path))
                .await
                .ok()
                .and_then(|f| f["version"].as_str().map(str::to_owned));
            let body = json!({ "path": path, "content": new, "base_version": base });
            match api::send("PUT", routes::FS_FILE, &body).await {
                Ok(_) => {
                    state.say(format!("Applied the code block to {path}"));
                    crate::assistant::audit::record_apply(&model, &path);
                    crate::ui::actions::refresh_tree(state);
                }
                Err(e) => state.complain(format!("Not applied: {}", e.message)),
            }
        }),
    }
}

/// A unified diff's lines, each classed by kind (added, removed, hunk header, context).
pub fn diff_lines(diff: &str) -> impl IntoView + use<> {
    diff.lines()
        .map(|line| {
            let class = if line.starts_with("+++") || line.starts_with("---") {
                "diff-file"
            } else if line.starts_with('+') {
                "diff-add"
            } else if line.starts_with('-') {
                "diff-del"
            } else if line.starts_with("@@") {
                "diff-hunk"
            } else {
                "diff-ctx"
            };
            view! { <span class=class>{format!("{line}\n")}</span> }
        })
        .collect_view()
}

/// The diff review dialog.
#[component]
pub fn ApplyDialog() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let apply = state.assistant.apply;
    view! {
        <Show when=move || apply.with(Option::is_some)>
            <div class="modal-backdrop">
                <div class="modal apply-review" role="dialog" aria-label="Review the change">
                    <h2>{move || apply.with(|a| a.as_ref().map(|(p, _, _)| format!("Apply to {p}?")).unwrap_or_default())}</h2>
                    <pre class="diff">
                        {move || apply.with(|a| a.as_ref().map(|(_, _, diff)| diff_lines(diff)))}
                    </pre>
                    <div class="actions">
                        <button class="reject" on:click=move |_| apply.set(None)>"Reject"</button>
                        <button class="primary accept" on:click=move |_| accept(state)>"Accept and save"</button>
                    </div>
                </div>
            </div>
        </Show>
    }
}
