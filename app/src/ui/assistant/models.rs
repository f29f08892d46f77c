//! The Models panel: every model of the appliance's store with family, parameters, formats,
//! size, context, health, whether the browser has it cached, and a fit verdict for this
//! browser's WebGPU adapter; load (with progress, time left and cancel) and unload; the
//! browser cache's use, and clearing it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use airlock_inference::fit::{Limits, Verdict, bytes, fit, params};
use airlock_protocol::models::{ModelHealth, ModelList, ModelSummary};
use airlock_protocol::routes;
use js_sys::Reflect;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::state::{Adapter, CacheView, LoadView};
use crate::api::{self, js_error_text};
use crate::engine::stream::Progress;
use crate::engine::{LoadOptions, cache, context_for};
use crate::generation;
use crate::model::engine_choice::{EngineKind, Preference};
use crate::ui::IdeState;

thread_local! {
    /// The running load's cancel flag.
    static CANCEL: RefCell<Option<Rc<Cell<bool>>>> = const { RefCell::new(None) };
}

/// Reads the store's list, the cache and the adapter.
pub fn refresh(state: IdeState) {
    let a = state.assistant;
    spawn_local(async move {
        match api::get_typed::<ModelList>(routes::MODELS).await {
            Ok(list) => {
                a.models.set(list.models);
                a.served_bytes.set(list.served_bytes);
            }
            Err(e) if e.code == "no_models" => a.models.set(Vec::new()),
            Err(e) => state.complain(format!("Could not list the models: {}", e.message)),
        }
        match api::get_typed::<airlock_protocol::llm::LlmModels>(routes::LLM_MODELS).await {
            Ok(list) => {
                for problem in &list.problems {
                    state.complain(problem.clone());
                }
                a.team_models.set(list.data);
            }
            Err(e) if e.code == "upstream_not_configured" => a.team_models.set(Vec::new()),
            Err(e) => state.complain(format!(
                "Could not list the team server's models: {}",
                e.message
            )),
        }
        a.cache.set(CacheView {
            entries: cache::cached().await,
            usage: cache::estimate().await,
        });
        if a.adapter.get_untracked().is_none() {
            a.adapter.set(adapter().await);
        }
    });
}

/// This browser's WebGPU adapter: limits, `shader-f16`, and whether it is software.
async fn adapter() -> Option<Adapter> {
    let adapter = crate::engine::request_adapter().await?;
    let limits = Reflect::get(&adapter, &"limits".into()).ok()?;
    let limit = |k: &str| {
        Reflect::get(&limits, &k.into())
            .ok()
            .and_then(|v| v.as_f64())
    };
    let features = Reflect::get(&adapter, &"features".into()).ok()?;
    let has: js_sys::Function = Reflect::get(&features, &"has".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let f16 = has
        .call1(&features, &"shader-f16".into())
        .ok()
        .is_some_and(|v| v.is_truthy());
    let info = Reflect::get(&adapter, &"info".into()).ok()?;
    let description = crate::engine::describe_adapter(&adapter);
    let fallback = Reflect::get(&info, &"isFallbackAdapter".into())
        .ok()
        .is_some_and(|v| v.is_truthy());
    let lower = description.to_lowercase();
    Some(Adapter {
        software: fallback
            || ["swiftshader", "llvmpipe", "lavapipe", "warp"]
                .iter()
                .any(|s| lower.contains(s)),
        description,
        limits: Limits {
            max_binding: limit("maxStorageBufferBindingSize").unwrap_or(128.0 * 1048576.0) as u64,
            max_buffer: limit("maxBufferSize").unwrap_or(256.0 * 1048576.0) as u64,
            shader_f16: f16,
            memory: None,
        },
    })
}

/// Loads `name` onto the GPU with progress; makes it the active model when none is.
pub fn load(state: IdeState, name: String) {
    let a = state.assistant;
    if a.loading.get_untracked().is_some() {
        state.complain("Another model is loading; cancel it first");
        return;
    }
    let cancel = Rc::new(Cell::new(false));
    CANCEL.with(|c| *c.borrow_mut() = Some(cancel.clone()));
    a.loading.set(Some(LoadView {
        name: name.clone(),
        progress: Progress::default(),
        started_ms: js_sys::Date::now(),
    }));
    a.load_note.set(None);
    let options = LoadOptions {
        on_progress: Some(Rc::new(move |p: Progress| {
            a.loading.update(|l| {
                if let Some(l) = l {
                    l.progress = p;
                }
            })
        })),
        cancel: Some(cancel),
        ..LoadOptions::default()
    };
    spawn_local(async move {
        let started = js_sys::Date::now();
        let result = generation::take(&name, &options).await;
        a.loading.set(None);
        CANCEL.with(|c| *c.borrow_mut() = None);
        match result {
            Ok((loaded, _)) => {
                let seconds = (js_sys::Date::now() - started) / 1000.0;
                let source = if loaded.from_cache {
                    "from the browser cache"
                } else {
                    "from the appliance"
                };
                let mut note = format!("Loaded {name} {source} in {seconds:.1} s");
                if let Some(why) = &loaded.cache_note {
                    note.push_str(&format!(" — {why}"));
                }
                let reason = match loaded.runner.cpu_place() {
                    Some(place) => format!("{} ({place})", loaded.decision.reason),
                    None => loaded.decision.reason.clone(),
                };
                let engine = (name.clone(), loaded.runner.kind(), reason);
                a.engines.update(|e| {
                    e.retain(|(n, _, _)| *n != name);
                    e.push(engine);
                });
                generation::give_back(&name, loaded);
                if let Some(speed) = probe_speed(&name).await {
                    a.speeds.update(|s| {
                        s.retain(|(n, _)| *n != name);
                        s.push((name.clone(), speed));
                    });
                }
                a.loaded.update(|l| {
                    if !l.contains(&name) {
                        l.push(name.clone());
                    }
                });
                if a.active_model.get_untracked().is_none() {
                    a.active_model.set(Some(name.clone()));
                }
                state.say(note.clone());
                a.load_note.set(Some((false, note)));
            }
            Err(e) => {
                let text =
                    crate::model::errors::explain(&format!("loading {name}"), &js_error_text(&e));
                state.complain(text.clone());
                a.load_note.set(Some((true, text)));
            }
        }
        refresh(state);
    });
}

/// Tokens the speed probe decodes.
const PROBE_TOKENS: usize = 3;

/// Decode tokens per second of `name` on this adapter, measured with a short greedy run.
async fn probe_speed(name: &str) -> Option<f64> {
    let outcome = crate::assistant::backend::generate(
        name,
        crate::assistant::backend::Prompt::Complete {
            prefix: "def".into(),
            suffix: String::new(),
        },
        crate::assistant::backend::Params {
            max_tokens: PROBE_TOKENS,
            temperature: 0.0,
            stop: Vec::new(),
        },
        Rc::new(Cell::new(false)),
        &mut |_| {},
    )
    .await
    .ok()?;
    (outcome.output_tokens > 1 && outcome.decode_ms > 0.0)
        .then(|| (outcome.output_tokens - 1) as f64 * 1000.0 / outcome.decode_ms)
}

/// Cancels the running load.
pub fn cancel_load() {
    CANCEL.with(|c| {
        if let Some(flag) = c.borrow().as_ref() {
            flag.set(true);
        }
    });
}

fn unload(state: IdeState, name: &str) {
    let a = state.assistant;
    if generation::unload(name) {
        a.loaded.update(|l| l.retain(|n| n != name));
        if a.active_model.get_untracked().as_deref() == Some(name) {
            a.active_model.set(None);
        }
        state.say(format!("Unloaded {name}"));
    } else {
        state.complain(format!("{name} is busy; stop its generation first"));
    }
}

fn describe(m: &ModelSummary) -> String {
    let i = &m.record.info;
    format!(
        "{} · {} params · {} · {} · context {}{}",
        i.family,
        params(i.params),
        i.quant_types.join("+"),
        bytes(m.record.bytes),
        i.context_length,
        i.fim
            .as_deref()
            .map(|f| format!(" · FIM ({f})"))
            .unwrap_or_default()
    )
}

/// The fit line, with the team server suggested where the browser cannot do well.
fn verdict(
    m: &ModelSummary,
    adapter: Option<&Adapter>,
    preference: Preference,
    team: Option<&str>,
) -> (String, &'static str) {
    let (text, class) = browser_verdict(m, adapter, expected_engine(preference, adapter));
    let fits = class == "ok";
    let software = adapter.is_some_and(|a| a.software);
    match crate::model::fit_hint::team_hint(fits, software, team) {
        Some(hint) => (format!("{text}. {hint}"), class),
        None => (text, class),
    }
}

/// The engine a load will most likely pick: the setting, or automatically the CPU where the
/// adapter is missing or a software renderer (the load's probe decides for certain).
fn expected_engine(preference: Preference, adapter: Option<&Adapter>) -> EngineKind {
    match (preference, adapter) {
        (Preference::Cpu, _) | (_, None) => EngineKind::Cpu,
        (Preference::Gpu, Some(_)) => EngineKind::Gpu,
        (Preference::Auto, Some(a)) if a.software => EngineKind::Cpu,
        (Preference::Auto, Some(_)) => EngineKind::Gpu,
    }
}

fn browser_verdict(
    m: &ModelSummary,
    adapter: Option<&Adapter>,
    engine: EngineKind,
) -> (String, &'static str) {
    let context = context_for(m.record.info.context_length as usize) as u64;
    let (limits, place) = match (engine, adapter) {
        (EngineKind::Gpu, Some(adapter)) => (adapter.limits, "this browser's GPU"),
        _ => (Limits::wasm_cpu(), "this browser's memory (CPU engine)"),
    };
    let f = fit(&m.record.info, context, &limits);
    let kv = if f.kv_bytes == 2 { "f16" } else { "f32" };
    let sums = format!(
        "weights {} + KV cache {} ({kv}, {context} positions) + activations {} = {}",
        bytes(f.weights),
        bytes(f.kv_cache),
        bytes(f.activations),
        bytes(f.total)
    );
    match f.verdict {
        Verdict::Fits => (format!("Fits {place}: {sums}"), "ok"),
        Verdict::FitsSharded => (
            format!("Fits, with large matrices split across buffers: {sums}"),
            "ok",
        ),
        Verdict::TooLarge { reason } => (format!("Does not fit: {reason}"), "bad"),
    }
}

fn progress_text(view: &LoadView) -> String {
    let p = view.progress;
    let elapsed = (js_sys::Date::now() - view.started_ms) / 1000.0;
    let left = if p.bytes > 0.0 && p.total > p.bytes {
        format!(" · {:.0} s left", elapsed * (p.total - p.bytes) / p.bytes)
    } else {
        String::new()
    };
    format!(
        "{} of {} · {} of {} tensors{}{}",
        bytes(p.bytes as u64),
        bytes(p.total as u64),
        p.tensors,
        p.tensor_total.max(p.tensors),
        left,
        if p.from_cache {
            " · from the browser cache"
        } else {
            ""
        }
    )
}

/// The Models panel.
#[component]
pub fn ModelsPanel() -> impl IntoView {
    let state = expect_context::<IdeState>();
    let a = state.assistant;
    refresh(state);
    let rows = move || a.models.get();
    view! {
        <div class="models-panel">
            <Show when=move || a.adapter.with(|ad| ad.as_ref().is_some_and(|ad| ad.software))>
                <p class="note warn adapter-note">
                    {move || a.adapter.with(|ad| ad.as_ref().map(|ad| format!(
                        "This browser's WebGPU adapter is a software renderer ({}): no GPU is used, so models run on the CPU unless WebGPU measures faster at load. Each model's measured speed is shown once it is loaded.",
                        ad.description
                    )).unwrap_or_default())}
                </p>
            </Show>
            <Show when=move || a.models.with(Vec::is_empty)>
                <p class="note">"No models. An administrator adds them with " <code>"airlock models import FILE"</code> " and starts the appliance with " <code>"--models DIR"</code> "."</p>
            </Show>
            <ul class="model-list">
                <For each=rows key=|m| (m.record.name.clone(), m.record.sha256.clone(), format!("{:?}", m.health)) let:m>
                    {model_row(state, m)}
                </For>
            </ul>
            <Show when=move || a.team_models.with(|t| !t.is_empty())>
                <h3 class="team-heading">"Team server"</h3>
                <ul class="team-model-list">
                    <For each=move || a.team_models.get() key=|m| (m.id.clone(), m.available) let:m>
                        {team_row(state, m)}
                    </For>
                </ul>
            </Show>
            {move || a.load_note.get().map(|(error, text)| view! { <p class="note load-note" class:error=error>{text}</p> })}
            <div class="cache-row">
                <span class="cache-use">{move || a.cache.with(|c| {
                    let usage = c.usage.map(|(u, q)| format!(" · {} of {} used", bytes(u as u64), bytes(q as u64))).unwrap_or_default();
                    format!("Browser cache: {} model{}{usage}", c.entries.len(), if c.entries.len() == 1 { "" } else { "s" })
                })}</span>
                <button class="icon-button clear-cache" on:click=move |_| {
                    spawn_local(async move {
                        match cache::clear().await {
                            Ok(()) => state.say("Cleared the browser's model cache"),
                            Err(e) => state.complain(format!("Could not clear the cache: {}", js_error_text(&e))),
                        }
                        refresh(state);
                    });
                }>"Clear cache"</button>
            </div>
            <div class="engine-settings">
                <label>
                    "Engine: "
                    <select class="engine-choice"
                        prop:value=move || a.engine_preference.get().name()
                        on:change=move |ev| {
                            if let Ok(p) = Preference::parse(&event_target_value(&ev)) {
                                a.engine_preference.set(p);
                                crate::engine::save_preference(p);
                                state.say(format!("Engine set to {}; it applies to the next load", p.name()));
                            }
                        }>
                        <option value="auto">"Automatic (measured at load)"</option>
                        <option value="gpu">"WebGPU"</option>
                        <option value="cpu">"CPU"</option>
                    </select>
                </label>
            </div>
            <div class="completion-settings">
                <label>
                    <input type="checkbox" class="completion-enabled"
                        prop:checked=move || a.completion_enabled.get()
                        on:change=move |ev| a.completion_enabled.set(event_target_checked(&ev))/>
                    " Inline completion"
                </label>
                <label>
                    " after a pause of "
                    <input type="number" class="completion-debounce" min="50" max="5000" step="50"
                        prop:value=move || a.completion_debounce_ms.get().to_string()
                        on:change=move |ev| {
                            if let Ok(ms) = event_target_value(&ev).parse::<u32>() {
                                a.completion_debounce_ms.set(ms.clamp(50, 5000));
                            }
                        }/>
                    " ms"
                </label>
            </div>
        </div>
    }
}

/// One model of the team server: chosen like a loaded model, served by the appliance's relay.
fn team_row(state: IdeState, m: airlock_protocol::llm::LlmModel) -> impl IntoView {
    let a = state.assistant;
    let name = StoredValue::new(format!("{}{}", crate::assistant::team::PREFIX, m.id));
    let is_active = move || {
        a.active_model
            .with(|x| name.with_value(|n| x.as_ref() == Some(n)))
    };
    view! {
        <li class="team-model" data-name=m.id.clone() data-available=m.available.to_string()>
            <div class="model-head">
                <input type="radio" name="active-model" title="Use for chat and completion"
                    prop:checked=is_active
                    prop:disabled=!m.available
                    on:change=move |_| a.active_model.set(Some(name.get_value()))/>
                <span class="model-name">{m.id.clone()}</span>
                <span class="badge">{format!("team server {}", m.owned_by)}</span>
            </div>
            <div class="model-facts">{match (m.available, m.context) {
                (true, Some(context)) => format!(
                    "Runs on the team's server (context {context} tokens); prompts leave this machine only for that server."
                ),
                (true, None) => "Runs on the team's server; prompts leave this machine only for that server.".to_owned(),
                (false, _) => "Not available on the team server now.".to_owned(),
            }}</div>
        </li>
    }
}

fn model_row(state: IdeState, m: ModelSummary) -> impl IntoView {
    let a = state.assistant;
    let name = m.record.name.clone();
    let damaged = match &m.health {
        ModelHealth::Damaged { reason } => Some(reason.clone()),
        ModelHealth::Ok => None,
    };
    let sha = m.record.sha256.clone();
    let cached = move || a.cache.with(|c| c.entries.contains(&sha));
    let name_value = StoredValue::new(name.clone());
    let is_loaded = move || a.loaded.with(|l| name_value.with_value(|n| l.contains(n)));
    let is_loading = move || {
        a.loading.with(|l| {
            l.as_ref()
                .is_some_and(|l| name_value.with_value(|n| l.name == *n))
        })
    };
    let is_active = move || {
        a.active_model
            .with(|m| name_value.with_value(|n| m.as_ref() == Some(n)))
    };
    let summary = StoredValue::new(m.clone());
    let fit_line = move || {
        let team = a
            .team_models
            .with(|t| t.iter().find(|m| m.available).map(|m| m.id.clone()));
        let preference = a.engine_preference.get();
        a.adapter
            .with(|ad| summary.with_value(|s| verdict(s, ad.as_ref(), preference, team.as_deref())))
    };
    let engine_line = move || {
        a.engines.with(|e| {
            name_value.with_value(|n| {
                e.iter().find(|(m, _, _)| m == n).map(|(_, kind, reason)| {
                    let on = match kind {
                        EngineKind::Cpu => "Runs on the CPU",
                        EngineKind::Gpu => "Runs on WebGPU",
                    };
                    (kind.name(), format!("{on}: {reason}"))
                })
            })
        })
    };
    let speed = move || {
        a.speeds
            .with(|s| name_value.with_value(|n| s.iter().find(|(m, _)| m == n).map(|(_, v)| *v)))
    };
    let can_load = damaged.is_none();
    let damaged_attr = damaged.is_some().to_string();
    view! {
        <li class="model" data-name=name.clone() data-damaged=damaged_attr>
            <div class="model-head">
                <input type="radio" name="active-model" title="Use for chat and completion"
                    prop:checked=is_active
                    prop:disabled=move || !is_loaded()
                    on:change=move |_| a.active_model.set(Some(name_value.get_value()))/>
                <span class="model-name">{name.clone()}</span>
                <Show when=cached><span class="badge cached">"cached"</span></Show>
                <Show when=is_loaded><span class="badge loaded">"loaded"</span></Show>
            </div>
            <div class="model-facts">{describe(&m)}</div>
            {match damaged {
                Some(reason) => view! { <div class="fit bad damaged">{format!("Damaged, not served: {reason}")}</div> }.into_any(),
                None => view! { <div class="fit" data-verdict=move || fit_line().1>{move || fit_line().0}</div> }.into_any(),
            }}
            <Show when=move || engine_line().is_some() && is_loaded()>
                <div class="engine" data-engine=move || engine_line().map(|l| l.0).unwrap_or_default()>{move || engine_line().map(|l| l.1).unwrap_or_default()}</div>
            </Show>
            <Show when=move || speed().is_some()>
                <div class="speed">{move || speed().map(|v| format!("Measured in this browser: {v:.2} tok/s decoding")).unwrap_or_default()}</div>
            </Show>
            <Show when=is_loading>
                <div class="load-progress">
                    <progress max="1" value=move || a.loading.with(|l| l.as_ref().map_or(0.0, |l| if l.progress.total > 0.0 { l.progress.bytes / l.progress.total } else { 0.0 }))></progress>
                    <span class="progress-text">{move || a.loading.with(|l| l.as_ref().map(progress_text).unwrap_or_default())}</span>
                    <button class="icon-button cancel-load" on:click=move |_| cancel_load()>"Cancel"</button>
                </div>
            </Show>
            <div class="model-actions">
                <Show when=move || can_load && !is_loaded() && !is_loading()>
                    <button class="icon-button load" on:click=move |_| load(state, name_value.get_value())>"Load"</button>
                </Show>
                <Show when=is_loaded>
                    <button class="icon-button unload" on:click=move |_| unload(state, &name_value.get_value())>"Unload"</button>
                </Show>
            </div>
        </li>
    }
}
