//! The editor area: CodeMirror when a tab is open, otherwise a hint or a notice.

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use super::IdeState;
use crate::api::js_error_text;
use crate::editor;

/// Editor pane component.
#[component]
pub fn EditorPane() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let host = NodeRef::<html::Div>::new();
    Effect::new(move |mounted: Option<bool>| {
        if mounted == Some(true) {
            return true;
        }
        let Some(element) = host.get() else {
            return false;
        };
        let on_change = Closure::<dyn Fn(String, bool)>::new(move |path: String, dirty: bool| {
            state.tabs.update(|t| {
                if let Some(tab) = t.get_mut(&path) {
                    tab.dirty = dirty;
                }
            });
        });
        let on_cursor =
            Closure::<dyn Fn(u32, u32)>::new(move |line, col| state.cursor.set((line, col)));
        let result = editor::mount(
            &element,
            on_change.as_ref().unchecked_ref(),
            on_cursor.as_ref().unchecked_ref(),
        );
        on_change.forget();
        on_cursor.forget();
        if let Err(e) = result {
            state.complain(format!("The editor failed to start: {}", js_error_text(&e)));
        }
        true
    });
    let no_tab = move || state.tabs.with(|t| t.active.is_none());
    view! {
        <section class="editor-pane" aria-label="Editor">
            <div class="editor-host" class:hidden=no_tab node_ref=host></div>
            <Show when=no_tab>
                <div class="placeholder">
                    {move || state.notice.get().unwrap_or_else(|| "Open a file from the explorer. Save with Ctrl+S (⌘S).".into())}
                </div>
            </Show>
        </section>
    }
}
