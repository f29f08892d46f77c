//! Engine and browser failures in plain words: what happened, what state the IDE is in now,
//! and what the person can do. The raw message stays at the end for a bug report.

/// What kind of failure a raw engine or browser message describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The browser's storage for this site is full (Cache Storage quota).
    Quota,
    /// The GPU device was lost (driver reset, another tab, sleep); the model is gone.
    DeviceLost,
    /// The GPU or the page ran out of memory.
    OutOfMemory,
    /// The prompt does not fit the model's context window.
    ContextTooLarge,
    /// Anything else.
    Other,
}

/// Classifies a raw message.
pub fn classify(raw: &str) -> Failure {
    let lower = raw.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if has(&[
        "quotaexceeded",
        "quota exceeded",
        "quota has been exceeded",
        "storage is full",
    ]) {
        Failure::Quota
    } else if has(&[
        "device lost",
        "device was lost",
        "devicelost",
        "device is lost",
    ]) {
        Failure::DeviceLost
    } else if has(&[
        "out of memory",
        "outofmemory",
        "out-of-memory",
        "not enough memory",
        "allocation failed",
        "failed to allocate",
    ]) {
        Failure::OutOfMemory
    } else if has(&[
        "longer than the context",
        "exceeds the context",
        "context window",
        "context length",
    ]) {
        Failure::ContextTooLarge
    } else {
        Failure::Other
    }
}

/// `raw` explained for the person, with what to do; `doing` is e.g. "loading qwen.gguf".
pub fn explain(doing: &str, raw: &str) -> String {
    let advice = match classify(raw) {
        Failure::Quota => {
            "the browser's storage for this site is full. The model works now but is not kept for \
             next time; clear the model cache in the Models panel or free disk space"
        }
        Failure::DeviceLost => {
            "the GPU stopped responding (device lost), so the model was unloaded. Load it again; \
             if it keeps happening, close other GPU-heavy tabs or pick a smaller model"
        }
        Failure::OutOfMemory => {
            "the GPU ran out of memory. Nothing was kept half-loaded; pick a smaller model or a \
             shorter context (the fit verdict in the Models panel shows what fits)"
        }
        Failure::ContextTooLarge => {
            "the prompt is longer than the model's context. Remove attachments or start a new \
             conversation"
        }
        Failure::Other => return format!("Failed {doing}: {raw}"),
    };
    format!("Failed {doing}: {advice}. (Details: {raw})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_gets_its_advice() {
        let cases = [
            (
                "QuotaExceededError: The quota has been exceeded.",
                Failure::Quota,
                "storage for this site is full",
            ),
            (
                "GPUDevice was lost: the device was lost (reason: unknown)",
                Failure::DeviceLost,
                "unloaded",
            ),
            (
                "GPUOutOfMemoryError: Out of memory while creating buffer",
                Failure::OutOfMemory,
                "smaller model",
            ),
            (
                "the prompt (1200 tokens) exceeds the context of 1024",
                Failure::ContextTooLarge,
                "new conversation",
            ),
        ];
        for (raw, kind, advice) in cases {
            assert_eq!(classify(raw), kind, "{raw}");
            let text = explain("loading m.gguf", raw);
            assert!(text.contains(advice) && text.contains(raw), "{text}");
        }
        assert_eq!(
            explain("loading m.gguf", "the file is not a GGUF model"),
            "Failed loading m.gguf: the file is not a GGUF model"
        );
    }
}
