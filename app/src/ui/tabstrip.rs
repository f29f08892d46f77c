//! The tab strip: one tab per open file, with a dirty marker and a close button.

use leptos::prelude::*;

use super::{IdeState, actions};
use crate::model::tree::name_of;

/// Tab strip component.
#[component]
pub fn TabStrip() -> impl IntoView {
    let state = expect_context::<IdeState>();
    view! {
        <div class="tabs" role="tablist" aria-label="Open files">
            <For
                each=move || state.tabs.with(|t| t.list.iter().map(|t| t.path.clone()).collect::<Vec<_>>())
                key=|path| path.clone()
                let:path
            >
                {tab(state, path)}
            </For>
        </div>
    }
}

fn tab(state: IdeState, path: String) -> impl IntoView {
    let active = {
        let path = path.clone();
        Memo::new(move |_| {
            state
                .tabs
                .with(|t| t.active.as_deref() == Some(path.as_str()))
        })
    };
    let dirty = {
        let path = path.clone();
        Memo::new(move |_| state.tabs.with(|t| t.get(&path).is_some_and(|t| t.dirty)))
    };
    let show = {
        let path = path.clone();
        move |_| actions::show_tab(state, &path)
    };
    let close = {
        let path = path.clone();
        move |ev: leptos::ev::MouseEvent| {
            ev.stop_propagation();
            actions::close_tab(state, &path);
        }
    };
    view! {
        <div
            class="tab"
            role="tab"
            tabindex="0"
            class:active=active
            class:is-dirty=dirty
            aria-selected=move || active.get().to_string()
            data-path=path.clone()
            title=path.clone()
            on:click=show
        >
            <span class="dirty" aria-label=move || if dirty.get() { "unsaved changes" } else { "" }>
                {move || if dirty.get() { "●" } else { "" }}
            </span>
            <span class="label">{name_of(&path).to_owned()}</span>
            <button class="close" title="Close" aria-label="Close tab" on:click=close>"×"</button>
        </div>
    }
}
