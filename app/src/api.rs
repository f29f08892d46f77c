//! Same-origin calls to the appliance's JSON API, with its error shape decoded.

use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestCredentials, RequestInit, Response};

/// A failed call: HTTP status plus the appliance's `error`, `message` and `detail`.
#[derive(Clone, Debug)]
pub struct ApiFailure {
    /// HTTP status (0 when the appliance could not be reached).
    pub status: u16,
    /// The stable error code, e.g. `conflict`.
    pub code: String,
    /// A sentence for the person.
    pub message: String,
    /// Structured extras (conflict versions, sizes).
    pub detail: Value,
}

impl ApiFailure {
    fn unreachable(error: JsValue) -> Self {
        Self {
            status: 0,
            code: "unreachable".into(),
            message: format!("the appliance did not answer: {}", js_error_text(&error)),
            detail: Value::Null,
        }
    }
}

/// `GET url`.
pub async fn get(url: &str) -> Result<Value, ApiFailure> {
    json_of(fetch("GET", url, None, None).await?).await
}

/// `method url` with a JSON body.
pub async fn send(method: &str, url: &str, body: &Value) -> Result<Value, ApiFailure> {
    json_of(fetch(method, url, Some(body), None).await?).await
}

/// `POST url` with a JSON body, returning the raw response for streaming. `abort` cancels
/// the request (the appliance then stops the command behind it).
pub async fn post_stream(
    url: &str,
    body: &Value,
    abort: &web_sys::AbortSignal,
) -> Result<Response, ApiFailure> {
    fetch("POST", url, Some(body), Some(abort)).await
}

/// A streamed response body read line by line as it arrives: the appliance's NDJSON
/// command output and a team server's server-sent events alike.
pub struct Lines {
    reader: web_sys::ReadableStreamDefaultReader,
    decoder: web_sys::TextDecoder,
    pending: String,
    done: bool,
}

impl Lines {
    /// Starts reading `response`'s body.
    pub fn new(response: &Response) -> Result<Self, String> {
        let body = response.body().ok_or("the answer has no body")?;
        Ok(Self {
            reader: body.get_reader().unchecked_into(),
            decoder: web_sys::TextDecoder::new().map_err(|e| js_error_text(&e))?,
            pending: String::new(),
            done: false,
        })
    }

    /// The next line without its newline; the text after the last newline comes last;
    /// `None` at the end.
    pub async fn next(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(newline) = self.pending.find('\n') {
                let line: String = self.pending.drain(..=newline).collect();
                return Ok(Some(line.trim_end_matches(['\n', '\r']).to_owned()));
            }
            if self.done {
                return Ok((!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending)));
            }
            let chunk = JsFuture::from(self.reader.read())
                .await
                .map_err(|e| js_error_text(&e))?;
            self.done = js_sys::Reflect::get(&chunk, &"done".into())
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            if self.done {
                continue;
            }
            let value: js_sys::Uint8Array = js_sys::Reflect::get(&chunk, &"value".into())
                .map_err(|e| js_error_text(&e))?
                .unchecked_into();
            let options = web_sys::TextDecodeOptions::new();
            options.set_stream(true);
            let text = self
                .decoder
                .decode_with_js_u8_array_and_options(&value, &options)
                .map_err(|e| js_error_text(&e))?;
            self.pending.push_str(&text);
        }
    }
}

/// `/api/fs/file?path=…` with the path encoded.
pub fn file_url(path: &str) -> String {
    format!(
        "{}?path={}",
        airlock_protocol::routes::FS_FILE,
        String::from(js_sys::encode_uri_component(path))
    )
}

/// Sends one same-origin request; a non-2xx answer becomes an [`ApiFailure`].
async fn fetch(
    method: &str,
    url: &str,
    body: Option<&Value>,
    abort: Option<&web_sys::AbortSignal>,
) -> Result<Response, ApiFailure> {
    let init = RequestInit::new();
    init.set_method(method);
    init.set_credentials(RequestCredentials::SameOrigin);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(&body.to_string()));
    }
    init.set_signal(abort);
    let request = Request::new_with_str_and_init(url, &init).map_err(ApiFailure::unreachable)?;
    if body.is_some() {
        request
            .headers()
            .set("Content-Type", "application/json")
            .map_err(ApiFailure::unreachable)?;
    }
    let window =
        web_sys::window().ok_or_else(|| ApiFailure::unreachable(JsValue::from_str("no window")))?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .and_then(|r| r.dyn_into())
        .map_err(ApiFailure::unreachable)?;
    if response.ok() {
        return Ok(response);
    }
    let status = response.status();
    let value = json_of(response).await.unwrap_or(Value::Null);
    Err(ApiFailure {
        status,
        code: value["error"].as_str().unwrap_or("http_error").to_owned(),
        message: value["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {status}")),
        detail: value["detail"].clone(),
    })
}

/// The body as JSON (`null` when it is not JSON).
pub async fn json_of(response: Response) -> Result<Value, ApiFailure> {
    let promise = response.text().map_err(ApiFailure::unreachable)?;
    let text = JsFuture::from(promise)
        .await
        .map_err(ApiFailure::unreachable)?
        .as_string()
        .unwrap_or_default();
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A readable string for a thrown JS value.
pub fn js_error_text(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

/// The appliance's error body (`{error, message}`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ErrorBody {
    /// The stable code.
    pub error: String,
    /// A sentence for the person.
    pub message: String,
}

/// `GET url`, decoded as `T`.
pub async fn get_typed<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, ApiFailure> {
    let value = get(url).await?;
    serde_json::from_value(value).map_err(|e| ApiFailure {
        status: 200,
        code: "bad_answer".into(),
        message: format!("the appliance answered in an unexpected shape: {e}"),
        detail: Value::Null,
    })
}

/// `POST url` with `body` serialised.
pub async fn post_typed<B: serde::Serialize>(url: &str, body: &B) -> Result<Value, ApiFailure> {
    let body = serde_json::to_value(body).map_err(|e| ApiFailure {
        status: 0,
        code: "bad_request".into(),
        message: e.to_string(),
        detail: Value::Null,
    })?;
    send("POST", url, &body).await
}
