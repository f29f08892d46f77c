//! Opening a model file natively: weights, tokenizer and chat format together, with one error
//! message for whatever is wrong.

use std::sync::Arc;

use crate::chat::ChatFormat;
use crate::gguf::{GgufFile, MetaValue};
use crate::model::{CpuModel, ModelError, load_gguf};
use crate::tokenizer::BpeTokenizer;

/// A model ready to generate with.
pub struct LoadedModel {
    /// The engine.
    pub model: CpuModel,
    /// Its tokenizer.
    pub tokenizer: BpeTokenizer,
    /// Its chat format, when the file names one.
    pub chat: Option<ChatFormat>,
}

impl LoadedModel {
    /// Loads a GGUF file image with a KV cache of `context` positions.
    pub fn from_gguf_bytes(bytes: Vec<u8>, context: usize) -> Result<Self, ModelError> {
        let bytes = Arc::new(bytes);
        let file = GgufFile::parse(&bytes).map_err(|e| ModelError::Invalid(e.to_string()))?;
        let weights = load_gguf(&bytes, &file)?;
        let tokenizer =
            BpeTokenizer::from_gguf(&file).map_err(|e| ModelError::Invalid(e.to_string()))?;
        if tokenizer.vocab_size() < weights.config.vocab {
            return Err(ModelError::Invalid(format!(
                "the tokenizer has {} tokens but the model expects {}",
                tokenizer.vocab_size(),
                weights.config.vocab
            )));
        }
        let chat = file
            .metadata
            .get("tokenizer.chat_template")
            .and_then(MetaValue::as_str)
            .and_then(ChatFormat::from_template);
        Ok(Self {
            model: CpuModel::new(weights, context),
            tokenizer,
            chat,
        })
    }

    /// Reads and loads a GGUF file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: &std::path::Path, context: usize) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path)
            .map_err(|e| ModelError::Invalid(format!("{}: {e}", path.display())))?;
        Self::from_gguf_bytes(bytes, context)
    }

    /// Ids of the chat format's end-of-turn tokens and the tokenizer's end-of-sequence token.
    pub fn stop_tokens(&self) -> Vec<u32> {
        let mut stops: Vec<u32> = self
            .chat
            .iter()
            .flat_map(|c| c.stop_tokens())
            .filter_map(|t| self.tokenizer.token_id(t))
            .collect();
        stops.extend(self.tokenizer.eos);
        stops.sort_unstable();
        stops.dedup();
        stops
    }
}
