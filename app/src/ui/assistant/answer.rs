//! An assistant answer: Markdown prose and highlighted code blocks, each block with Copy,
//! Insert at cursor, and Apply to file (which opens the diff review).

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;

use super::apply;
use crate::editor;
use crate::model::markdown::{Block, blocks};
use crate::ui::IdeState;

/// Renders `markdown`; `target` is the file (and lines) "apply" changes, when known.
pub fn render(state: IdeState, markdown: &str, target: Option<String>) -> impl IntoView + use<> {
    blocks(markdown)
        .into_iter()
        .map(|block| match block {
            Block::Html(html) => view! { <div class="md" inner_html=html></div> }.into_any(),
            Block::Code { lang, code } => code_block(state, lang, code, target.clone()).into_any(),
        })
        .collect_view()
}

fn code_block(
    state: IdeState,
    lang: String,
    code: String,
    target: Option<String>,
) -> impl IntoView {
    let highlighted = editor::highlight(&code, &lang);
    let (copy, insert, apply_code) = (code.clone(), code.clone(), code);
    let on_copy = move |_| {
        let text = copy.clone();
        spawn_local(async move {
            let clipboard = web_sys::window().map(|w| w.navigator().clipboard());
            match clipboard {
                Some(c) => match JsFuture::from(c.write_text(&text)).await {
                    Ok(_) => state.say("Copied the code block"),
                    Err(_) => state.complain(
                        "The browser did not allow copying; select the code and press Ctrl+C",
                    ),
                },
                None => state.complain("No clipboard in this browser"),
            }
        });
    };
    let on_insert = move |_| {
        if editor::insert_at_cursor(&insert) {
            let path = editor::current().unwrap_or_default();
            state.say(format!("Inserted the code block at the cursor in {path}"));
        } else {
            state.complain("Open a file to insert the code block into");
        }
    };
    let has_target = target.is_some();
    let on_apply = move |_| {
        if let Some(target) = target.clone() {
            apply::review(state, target, apply_code.clone());
        }
    };
    view! {
        <div class="code-block">
            <div class="code-actions">
                <span class="lang">{if lang.is_empty() { "code".to_owned() } else { lang }}</span>
                <span class="spacer"></span>
                <button class="icon-button copy" on:click=on_copy>"Copy"</button>
                <button class="icon-button insert" on:click=on_insert>"Insert at cursor"</button>
                <button class="icon-button apply" disabled=!has_target title="Review a diff, then save" on:click=on_apply>"Apply to file"</button>
            </div>
            <pre><code inner_html=highlighted></code></pre>
        </div>
    }
}
