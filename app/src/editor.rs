//! Bindings to the CodeMirror bundle's `globalThis.airlockEditor` API (static/editor/index.js).

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// Creates the editor view in `parent`; `on_change(path, dirty)`, `on_cursor(line, col)`.
    #[wasm_bindgen(catch, js_namespace = airlockEditor, js_name = mount)]
    pub fn mount(
        parent: &web_sys::Element,
        on_change: &js_sys::Function,
        on_cursor: &js_sys::Function,
    ) -> Result<(), JsValue>;
    /// Opens (or shows) a tab with `content`; returns the language name.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = open)]
    pub fn open(path: &str, content: &str) -> String;
    /// Shows an open tab.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = show)]
    pub fn show(path: &str) -> bool;
    /// Forgets a tab.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = close)]
    pub fn close(path: &str);
    /// The current text of an open tab.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = content)]
    pub fn content(path: &str) -> Option<String>;
    /// Records `content` as the saved text.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = markSaved)]
    pub fn mark_saved(path: &str, content: &str);
    /// Replaces the text of a tab and records it as saved.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = replace)]
    pub fn replace(path: &str, content: &str);
    /// Moves a tab to a new path.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = rename)]
    pub fn rename(from: &str, to: &str);
    /// Focuses the editor.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = focus)]
    pub fn focus();
}
