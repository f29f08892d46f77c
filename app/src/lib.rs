//! Airlock's IDE front end: a Leptos (CSR) app compiled to wasm32. It talks only to the
//! appliance that served it (same origin) and drives the CodeMirror bundle in `static/editor`.

pub mod api;
pub mod assistant;
pub mod editor;
pub mod engine;
pub mod generation;
pub mod model;
pub mod ui;

/// Browser entry point, called by wasm-bindgen once the module is instantiated.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("a browser document");
    let host = document
        .get_element_by_id("app")
        .expect("index.html has #app");
    host.set_inner_html("");
    let host: web_sys::HtmlElement = wasm_bindgen::JsCast::unchecked_into(host);
    engine::install();
    leptos::mount::mount_to(host, ui::Ide).forget();
}
