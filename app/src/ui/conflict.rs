//! The prompt shown when a save finds the file changed on disk: keep mine (overwrite),
//! take theirs (reload), or go back to editing. Nothing is lost whichever is chosen: the
//! reload is undoable in the editor.

use leptos::html;
use leptos::prelude::*;

use super::{IdeState, actions};

/// Conflict dialog component.
#[component]
pub fn ConflictDialog() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let first_button = NodeRef::<html::Button>::new();
    Effect::new(move |_| {
        if state.conflict.with(Option::is_some)
            && let Some(button) = first_button.get()
        {
            let _ = button.focus();
        }
    });
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.prevent_default();
            actions::resolve_conflict(state, actions::Resolution::KeepEditing);
        }
    };
    view! {
        <Show when=move || state.conflict.with(Option::is_some)>
            <div class="modal-backdrop" on:keydown=on_key>
                <div class="modal conflict" role="alertdialog" aria-modal="true" aria-labelledby="conflict-title" aria-describedby="conflict-text">
                    <h2 id="conflict-title">"File changed on disk"</h2>
                    <p id="conflict-text">
                        {move || state.conflict.with(|c| c.as_ref().map(|c| if c.current_version.is_some() {
                            format!("{} was changed outside this tab since you opened it. Saving now would overwrite those changes.", c.path)
                        } else {
                            format!("{} was deleted outside this tab since you opened it.", c.path)
                        }))}
                    </p>
                    <div class="actions">
                        <button node_ref=first_button class="keep-editing" on:click=move |_| actions::resolve_conflict(state, actions::Resolution::KeepEditing)>
                            "Keep editing"
                        </button>
                        <Show when=move || state.conflict.with(|c| c.as_ref().is_some_and(|c| c.current_content.is_some()))>
                            <button class="reload" on:click=move |_| actions::resolve_conflict(state, actions::Resolution::TakeTheirs)>
                                "Reload from disk"
                            </button>
                        </Show>
                        <button class="danger overwrite" on:click=move |_| actions::resolve_conflict(state, actions::Resolution::KeepMine)>
                            {move || if state.conflict.with(|c| c.as_ref().is_some_and(|c| c.current_version.is_none())) { "Save again" } else { "Overwrite with mine" }}
                        </button>
                    </div>
                </div>
            </div>
        </Show>
    }
}
