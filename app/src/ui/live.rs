//! Things that run for the whole session: the air-gap status feed (HTTP once, then a
//! WebSocket), the CSP violation monitor, global keyboard shortcuts, and the title.

use airlock_protocol::routes;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::{IdeState, actions};
use crate::api;
use crate::model::airgap::AirGap;

/// Delay before reconnecting a dropped status feed.
const RECONNECT_AFTER: Duration = Duration::from_secs(3);

/// Starts every session-long task.
pub fn start(state: IdeState) {
    fetch_status(state);
    connect_status_feed(state);
    watch_csp_violations(state);
    bind_shortcuts(state);
    keep_title(state);
    warn_before_leaving_unsaved(state);
}

fn apply_report(state: IdeState, report: &serde_json::Value) {
    state.airgap.set(AirGap::from_report(report));
    if let Some(name) = report["workspace"].as_str() {
        state.workspace.set(name.to_owned());
    }
}

/// Asks the appliance for its air-gap report now (start-up, and after a refusal that
/// suggests it changed).
pub(super) fn fetch_status(state: IdeState) {
    spawn_local(async move {
        match api::get(routes::STATUS).await {
            Ok(report) => apply_report(state, &report),
            Err(e) if e.status == 0 => state.airgap.set(AirGap::Disconnected),
            Err(e) => state.airgap.set(AirGap::Warning {
                failures: vec![e.message],
            }),
        }
    });
}

fn connect_status_feed(state: IdeState) {
    let Some(location) = web_sys::window().map(|w| w.location()) else {
        return;
    };
    let Ok(host) = location.host() else { return };
    let Ok(socket) = web_sys::WebSocket::new(&format!("ws://{host}/api/events")) else {
        state.airgap.set(AirGap::Disconnected);
        return;
    };
    let on_message =
        Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            if let Ok(message) = serde_json::from_str::<serde_json::Value>(&text)
                && message["type"] == "status"
            {
                apply_report(state, &message["status"]);
            }
        });
    let on_close = Closure::<dyn Fn()>::new(move || {
        state.airgap.set(AirGap::Disconnected);
        set_timeout(move || connect_status_feed(state), RECONNECT_AFTER);
    });
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    on_message.forget();
    on_close.forget();
}

fn watch_csp_violations(state: IdeState) {
    let handle = window_event_listener_untyped("securitypolicyviolation", move |event| {
        let field = |name: &str| {
            js_sys::Reflect::get(&event, &JsValue::from_str(name))
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        let blocked = field("blockedURI");
        let directive = field("effectiveDirective");
        state
            .csp_blocked
            .update(|b| b.push(format!("{blocked} ({directive})")));
        state.complain(format!("Blocked by the air-gap policy: {blocked}"));
    });
    std::mem::forget(handle);
}

fn bind_shortcuts(state: IdeState) {
    let handle = window_event_listener(leptos::ev::keydown, move |event| {
        let command = event.ctrl_key() || event.meta_key();
        if command && !event.alt_key() && event.key().eq_ignore_ascii_case("s") {
            event.prevent_default();
            actions::save_active(state);
        } else if command && !event.alt_key() && event.key().eq_ignore_ascii_case("l") {
            event.prevent_default();
            state
                .assistant
                .pane
                .set(Some(super::assistant::state::Pane::Chat));
            request_animation_frame(super::assistant::chat::focus_input);
        } else if command && event.key() == "`" {
            event.prevent_default();
            state.terminal_open.update(|open| *open = !*open);
        } else if event.key() == "F2" && state.conflict.with_untracked(Option::is_none) {
            event.prevent_default();
            actions::rename_selected(state);
        }
    });
    std::mem::forget(handle);
}

fn keep_title(state: IdeState) {
    Effect::new(move |_| {
        let title = state.tabs.with(|t| match t.active_tab() {
            Some(tab) => format!(
                "{}{} — Airlock",
                if tab.dirty { "● " } else { "" },
                tab.path
            ),
            None => "Airlock".to_owned(),
        });
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            document.set_title(&title);
        }
    });
}

fn warn_before_leaving_unsaved(state: IdeState) {
    let handle = window_event_listener_untyped("beforeunload", move |event| {
        if state.tabs.with_untracked(|t| t.any_dirty()) {
            event.prevent_default();
        }
    });
    std::mem::forget(handle);
}
