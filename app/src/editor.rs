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
    /// The active tab's path.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = current)]
    pub fn current() -> Option<String>;
    /// The active tab's selection (`{path, text, fromLine, toLine}`), or null.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = selection)]
    pub fn selection() -> JsValue;
    /// Inserts text at the cursor of the active tab; false without one.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = insertAtCursor)]
    pub fn insert_at_cursor(text: &str) -> bool;
    /// Sets an open tab's text, undoable and unsaved.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = setContent)]
    pub fn set_content(path: &str, content: &str) -> bool;
    /// Installs the inline completion provider and settings.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = setCompletion)]
    pub fn set_completion(options: &JsValue);
    /// A code block highlighted as HTML.
    #[wasm_bindgen(js_namespace = airlockEditor, js_name = highlight)]
    pub fn highlight(code: &str, tag: &str) -> String;
}
