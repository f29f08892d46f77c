//! The Evidence view: what the appliance measured just now (sockets of the appliance and of
//! running sandboxed commands, checks, policy, audit chain, CSP), and a one-click export
//! of the evidence pack.

use airlock_protocol::routes;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use super::IdeState;
use crate::api;

/// Evidence dialog component.
#[component]
pub fn EvidenceView() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let report = RwSignal::new(None::<Result<Value, String>>);
    let close_button = NodeRef::<html::Button>::new();
    let load = move || {
        report.set(None);
        // Keyboard focus stays in the dialog (a clicked button may vanish on reload).
        if let Some(button) = close_button.get_untracked() {
            let _ = button.focus();
        }
        spawn_local(async move {
            let answer = api::get(routes::EVIDENCE).await.map_err(|e| e.message);
            report.set(Some(answer));
        });
    };
    Effect::new(move |_| {
        if state.evidence_open.get() {
            load();
            if let Some(button) = close_button.get() {
                let _ = button.focus();
            }
        }
    });
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.prevent_default();
            state.evidence_open.set(false);
        }
    };
    view! {
        <Show when=move || state.evidence_open.get()>
            <div class="modal-backdrop" on:keydown=on_key>
                <div class="modal evidence" role="dialog" aria-modal="true" aria-labelledby="evidence-title">
                    <h2 id="evidence-title">"Egress evidence"</h2>
                    {move || match report.get() {
                        None => view! { <p>"Measuring…"</p> }.into_any(),
                        Some(Err(message)) => view! { <p class="error">{message}</p> }.into_any(),
                        Some(Ok(r)) => render(&r, load).into_any(),
                    }}
                    <div class="actions">
                        <button on:click=move |_| load()>"Refresh"</button>
                        <a class="button primary export-pack" href=routes::EVIDENCE_PACK download="">"Export evidence pack"</a>
                        <button node_ref=close_button on:click=move |_| state.evidence_open.set(false)>"Close"</button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

fn text(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

fn render<R: Fn() + Copy + Send + Sync + 'static>(r: &Value, reload: R) -> impl IntoView + use<R> {
    let clear = r["all_clear"] == true;
    let findings: Vec<String> = r["findings"]
        .as_array()
        .map(|f| f.iter().map(text).collect())
        .unwrap_or_default();
    let mut sockets: Vec<(String, Value)> = r["appliance"]["sockets"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| ("appliance".to_owned(), s.clone()))
                .collect()
        })
        .unwrap_or_default();
    for command in r["commands"].as_array().into_iter().flatten() {
        for process in command["processes"].as_array().into_iter().flatten() {
            for socket in process["sockets"].as_array().into_iter().flatten() {
                sockets.push((
                    format!(
                        "{} (pid {})",
                        text(&command["command"]),
                        text(&process["pid"])
                    ),
                    socket.clone(),
                ));
            }
        }
    }
    let commands = r["commands"].as_array().map(Vec::len).unwrap_or(0);
    let checks: Vec<(String, bool, String)> = r["status"]["checks"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| (text(&c["name"]), c["ok"] == true, text(&c["detail"])))
                .collect()
        })
        .unwrap_or_default();
    let audit = &r["audit_verification"];
    let audit_line = if audit["ok"] == true {
        format!(
            "verified: {} records, head {} {}",
            text(&audit["records"]),
            text(&audit["head"]["seq"]),
            text(&audit["head"]["hash"])
        )
    } else {
        format!(
            "FAILED at record {}: {}",
            text(&audit["bad_seq"]),
            text(&audit["problem"])
        )
    };
    let policy_line = format!(
        "{} {}",
        text(&r["status"]["policy_source"]),
        text(&r["status"]["policy_hash"])
    );
    view! {
        <p class="verdict" data-clear=clear.to_string()>
            {if clear { "All clear: every socket is loopback-only and every check passed." } else { "Findings need attention:" }}
        </p>
        <ul class="findings">{findings.into_iter().map(|f| view! { <li>{f}</li> }).collect_view()}</ul>
        <h3>"Checks"</h3>
        <ul class="checks">
            {checks.into_iter().map(|(name, ok, detail)| view! {
                <li data-ok=ok.to_string()><b>{name}</b>" — "{if ok { "ok" } else { "FAILED" }}": "{detail}</li>
            }).collect_view()}
        </ul>
        <h3>{format!("Open sockets ({} commands running)", commands)}</h3>
        <table class="sockets">
            <thead><tr><th>"owner"</th><th>"proto"</th><th>"local"</th><th>"remote"</th><th>"loopback"</th></tr></thead>
            <tbody>
                {sockets.into_iter().map(|(owner, s)| view! {
                    <tr data-loopback=text(&s["loopback_only"])>
                        <td>{owner}</td><td>{text(&s["protocol"])}</td><td>{text(&s["local"])}</td>
                        <td>{text(&s["remote"])}</td><td>{text(&s["loopback_only"])}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <h3>"Policy"</h3><p class="mono">{policy_line}</p>
        {policy_loosenings(&r["status"], reload)}
        <h3>"Audit chain"</h3><p class="mono audit-line">{audit_line}</p>
        <h3>"Content-Security-Policy"</h3><p class="mono csp-text">{text(&r["content_security_policy"])}</p>
    }
}

/// A workspace policy's loosenings of the defaults: ignored until the person confirms this
/// exact policy text here (the appliance records the confirmation in the audit log).
fn policy_loosenings<R: Fn() + Copy + Send + Sync + 'static>(
    status: &Value,
    reload: R,
) -> impl IntoView + use<R> {
    let loosenings: Vec<String> = status["policy_loosenings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let ignored = status["policy_loosenings_ignored"] == true;
    let hash = text(&status["policy_hash"]);
    let error = RwSignal::new(None::<String>);
    let confirm = move |_| {
        let body = airlock_protocol::approvals::PolicyConfirm { hash: hash.clone() };
        spawn_local(async move {
            match api::post_typed(routes::POLICY_CONFIRM, &body).await {
                Ok(_) => reload(),
                Err(failure) => error.set(Some(failure.message)),
            }
        });
    };
    (!loosenings.is_empty()).then(|| {
        view! {
            <div class="policy-loosenings" data-ignored=ignored.to_string()>
                <p>{if ignored {
                    "This workspace's policy loosens the defaults; these loosenings are ignored until you confirm it:"
                } else {
                    "You confirmed this workspace policy; it loosens the defaults:"
                }}</p>
                <ul>{loosenings.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
                <Show when=move || ignored>
                    <button class="confirm-policy" on:click=confirm.clone()>"Confirm this workspace policy"</button>
                </Show>
                <Show when=move || error.get().is_some()>
                    <p class="error">{move || error.get().unwrap_or_default()}</p>
                </Show>
            </div>
        }
    })
}
