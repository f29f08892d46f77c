//! A model download read chunk by chunk — from the appliance or from the browser's cache —
//! keeping only the bytes not yet handed on (the header, then at most about one tensor),
//! hashing every byte as it passes, reporting progress and honouring a cancel.

use std::cell::Cell;
use std::rc::Rc;

use airlock_inference::gguf::{GgufError, GgufFile};
use js_sys::{Reflect, Uint8Array};
use sha2::{Digest, Sha256};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::error;

/// How far a load has come, for a progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    /// Bytes read.
    pub bytes: f64,
    /// Bytes in the file.
    pub total: f64,
    /// Tensors on the GPU.
    pub tensors: usize,
    /// Tensors in the file.
    pub tensor_total: usize,
    /// Whether the bytes come from the browser's cache.
    pub from_cache: bool,
}

/// Called with each step of a load.
pub type OnProgress = Rc<dyn Fn(Progress)>;

/// A model's bytes arriving.
pub struct ModelStream {
    reader: web_sys::ReadableStreamDefaultReader,
    /// Bytes from file offset `start` on.
    buffer: Vec<u8>,
    start: u64,
    /// Largest `buffer` seen: the wasm heap cost of loading.
    pub peak: usize,
    hasher: Sha256,
    /// What has been read and placed so far.
    pub progress: Progress,
    on_progress: Option<OnProgress>,
    cancel: Option<Rc<Cell<bool>>>,
}

impl ModelStream {
    /// Reads `response`'s body; `total` is the file's length.
    pub fn new(
        response: &web_sys::Response,
        total: u64,
        from_cache: bool,
        on_progress: Option<OnProgress>,
        cancel: Option<Rc<Cell<bool>>>,
    ) -> Result<Self, JsValue> {
        let body = response
            .body()
            .ok_or_else(|| error("the model download has no body"))?;
        Ok(Self {
            reader: body.get_reader().dyn_into()?,
            buffer: Vec::new(),
            start: 0,
            peak: 0,
            hasher: Sha256::new(),
            progress: Progress {
                total: total as f64,
                from_cache,
                ..Progress::default()
            },
            on_progress,
            cancel,
        })
    }

    /// The file's length.
    pub fn total(&self) -> u64 {
        self.progress.total as u64
    }

    fn report(&self) {
        if let Some(f) = &self.on_progress {
            f(self.progress);
        }
    }

    /// Notes one more tensor placed.
    pub fn tensor_placed(&mut self, of: usize) {
        self.progress.tensors += 1;
        self.progress.tensor_total = of;
        self.report();
    }

    /// Appends the next chunk; false at the end of the stream.
    async fn read(&mut self) -> Result<bool, JsValue> {
        if self.cancel.as_ref().is_some_and(|c| c.get()) {
            let _ = self.reader.cancel();
            return Err(error("the load was cancelled"));
        }
        let result = JsFuture::from(self.reader.read()).await?;
        if Reflect::get(&result, &"done".into())?.as_bool() == Some(true) {
            return Ok(false);
        }
        let chunk = Uint8Array::new(&Reflect::get(&result, &"value".into())?).to_vec();
        self.hasher.update(&chunk);
        self.progress.bytes += chunk.len() as f64;
        self.buffer.extend(chunk);
        self.peak = self.peak.max(self.buffer.len());
        self.report();
        Ok(true)
    }

    /// Reads until the GGUF header parses.
    pub async fn header(&mut self) -> Result<GgufFile, JsValue> {
        loop {
            match GgufFile::parse_header(&self.buffer, self.total()) {
                Ok(file) => return Ok(file),
                Err(GgufError::Truncated(_)) if (self.buffer.len() as u64) < self.total() => {
                    if !self.read().await? {
                        return Err(error("the model download ended inside the header"));
                    }
                }
                Err(e) => return Err(error(e)),
            }
        }
    }

    /// The bytes `offset..offset + len` of the file; everything before is dropped.
    pub async fn range(&mut self, offset: u64, len: u64) -> Result<&[u8], JsValue> {
        loop {
            if offset > self.start {
                let drop = ((offset - self.start) as usize).min(self.buffer.len());
                self.buffer.drain(..drop);
                self.start += drop as u64;
            }
            if self.start == offset && self.buffer.len() as u64 >= len {
                return Ok(&self.buffer[..len as usize]);
            }
            if !self.read().await? {
                return Err(error(format!(
                    "the model download ended at byte {} of {}",
                    self.start + self.buffer.len() as u64,
                    self.total()
                )));
            }
        }
    }

    /// The whole file, for the CPU engine (which keeps it in the page), and the SHA-256 of
    /// every byte read (`tensors`: how many the file has, all placed once it is read). Only
    /// before [`ModelStream::range`] has dropped any bytes.
    pub async fn whole(mut self, tensors: usize) -> Result<(Vec<u8>, String), JsValue> {
        self.progress.tensor_total = tensors;
        if self.start != 0 {
            return Err(error("the model download was already partly consumed"));
        }
        let more = (self.total() as usize).saturating_sub(self.buffer.len());
        self.buffer.try_reserve_exact(more).map_err(|_| {
            error(format!(
                "the page could not set aside {} for the model",
                airlock_inference::fit::bytes(self.total())
            ))
        })?;
        while self.read().await? {}
        if self.buffer.len() as u64 != self.total() {
            return Err(error(format!(
                "the model download has {} bytes, {} expected",
                self.buffer.len(),
                self.total()
            )));
        }
        self.progress.tensors = tensors;
        self.report();
        Ok((self.buffer, hex(&self.hasher.finalize())))
    }

    /// Reads to the end and returns the SHA-256 (lower-case hex) of every byte read.
    pub async fn finish(mut self) -> Result<(String, usize), JsValue> {
        self.buffer.clear();
        while self.read().await? {
            self.buffer.clear();
        }
        if (self.progress.bytes as u64) != self.total() {
            return Err(error(format!(
                "the model download has {} bytes, {} expected",
                self.progress.bytes,
                self.total()
            )));
        }
        Ok((hex(&self.hasher.finalize()), self.peak))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
