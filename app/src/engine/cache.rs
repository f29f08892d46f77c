//! The browser's copy of each model, in Cache Storage, keyed by the model's SHA-256 so a
//! reload or a second tab loads it without downloading again. An entry is only ever used
//! when its bytes hash to that SHA-256 (checked while it streams); one that does not is
//! dropped and the model fetched again.

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The Cache Storage bucket.
pub const BUCKET: &str = "airlock-models";

/// The cache key of a model's bytes.
pub fn key(sha256: &str) -> String {
    format!("/model-cache/{sha256}")
}

async fn storage() -> Result<web_sys::Cache, JsValue> {
    let caches = Reflect::get(&js_sys::global(), &"caches".into())?;
    if caches.is_undefined() {
        return Err(JsValue::from_str("this browser has no Cache Storage here"));
    }
    let caches: web_sys::CacheStorage = caches.dyn_into()?;
    JsFuture::from(caches.open(BUCKET)).await?.dyn_into()
}

/// The cached response for `sha256`, if any.
pub async fn find(sha256: &str) -> Option<web_sys::Response> {
    let cache = storage().await.ok()?;
    let found = JsFuture::from(cache.match_with_str(&key(sha256)))
        .await
        .ok()?;
    found.dyn_into().ok()
}

/// Starts storing `body` under `sha256`; the promise settles when it has all been written
/// (rejects on a full quota).
pub async fn store(sha256: &str, body: &web_sys::ReadableStream) -> Result<Promise, JsValue> {
    let cache = storage().await?;
    let init = web_sys::ResponseInit::new();
    let headers = web_sys::Headers::new()?;
    headers.set("content-type", "application/octet-stream")?;
    init.set_headers(&headers);
    let response = web_sys::Response::new_with_opt_readable_stream_and_init(Some(body), &init)?;
    Ok(cache.put_with_str(&key(sha256), &response))
}

/// Drops the entry for `sha256`.
pub async fn drop_entry(sha256: &str) {
    if let Ok(cache) = storage().await {
        let _ = JsFuture::from(cache.delete_with_str(&key(sha256))).await;
    }
}

/// The SHA-256 keys cached now.
pub async fn cached() -> Vec<String> {
    let Ok(cache) = storage().await else {
        return Vec::new();
    };
    let Ok(keys) = JsFuture::from(cache.keys()).await else {
        return Vec::new();
    };
    js_sys::Array::from(&keys)
        .iter()
        .filter_map(|r| r.dyn_into::<web_sys::Request>().ok())
        .filter_map(|r| r.url().rsplit('/').next().map(str::to_owned))
        .collect()
}

/// Deletes every cached model.
pub async fn clear() -> Result<(), JsValue> {
    let caches: web_sys::CacheStorage =
        Reflect::get(&js_sys::global(), &"caches".into())?.dyn_into()?;
    JsFuture::from(caches.delete(BUCKET)).await?;
    Ok(())
}

/// Bytes this origin uses and may use (`navigator.storage.estimate()`).
pub async fn estimate() -> Option<(f64, f64)> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let storage = Reflect::get(&navigator, &"storage".into()).ok()?;
    let estimate: js_sys::Function = Reflect::get(&storage, &"estimate".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let promise: Promise = estimate.call0(&storage).ok()?.dyn_into().ok()?;
    let result: Object = JsFuture::from(promise).await.ok()?.dyn_into().ok()?;
    let number = |k: &str| Reflect::get(&result, &k.into()).ok()?.as_f64();
    Some((number("usage")?, number("quota")?))
}
