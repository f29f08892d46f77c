//! Opening a model file: weights, tokenizer and chat format together, with one error message
//! for whatever is wrong; natively also starting the CPU or GPU engine on it.

use crate::chat::{ChatError, ChatTemplate};
use crate::file_image::FileImage;
use crate::gguf::{GgufFile, MetaValue};
use crate::model::{ModelError, Weights, load_gguf};
use crate::tokenizer::Tokenizer;

/// Which engine runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// The CPU engine with int8 products (the speed path where no GPU is usable).
    Cpu,
    /// The CPU engine with f32 products: the reference the others are checked against.
    CpuReference,
    /// The GPU engine (wgpu).
    Gpu,
}

/// A model file's weights, tokenizer and chat format, ready to start an engine on.
pub struct LoadedModel {
    /// The weights (GGUF blocks shared with the file image, not copied).
    pub weights: Weights,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// Its chat template (the documented fallback when the file has none).
    pub chat: ChatTemplate,
}

impl LoadedModel {
    /// Loads a GGUF file already in memory.
    pub fn from_gguf_bytes(bytes: Vec<u8>) -> Result<Self, ModelError> {
        Self::from_gguf_image(FileImage::from_vec(bytes))
    }

    /// Loads a GGUF file image (weights keep pointing into it).
    pub fn from_gguf_image(bytes: FileImage) -> Result<Self, ModelError> {
        let file =
            GgufFile::parse(bytes.bytes()).map_err(|e| ModelError::Invalid(e.to_string()))?;
        let weights = load_gguf(&bytes, &file)?;
        let tokenizer =
            Tokenizer::from_gguf(&file).map_err(|e| ModelError::Invalid(e.to_string()))?;
        if tokenizer.vocab_size() < weights.config.vocab {
            return Err(ModelError::Invalid(format!(
                "the tokenizer has {} tokens but the model expects {}",
                tokenizer.vocab_size(),
                weights.config.vocab
            )));
        }
        let chat =
            chat_template(&file, &tokenizer).map_err(|e| ModelError::Invalid(e.to_string()))?;
        Ok(Self {
            weights,
            tokenizer,
            chat,
        })
    }

    /// Memory-maps and loads a GGUF file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: &std::path::Path) -> Result<Self, ModelError> {
        let image = FileImage::map(path)
            .map_err(|e| ModelError::Invalid(format!("{}: {e}", path.display())))?;
        Self::from_gguf_image(image)
    }

    /// Starts an engine with a KV cache of `context` positions.
    #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
    pub fn engine(
        &self,
        kind: EngineKind,
        context: usize,
    ) -> Result<Box<dyn crate::generate::Forward>, ModelError> {
        self.engine_with(kind, context, crate::gpu::GpuOptions::default())
    }

    /// As `engine`, with the GPU engine's load-time choices (`gpu` is unused by the CPU one).
    #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
    pub fn engine_with(
        &self,
        kind: EngineKind,
        context: usize,
        gpu: crate::gpu::GpuOptions,
    ) -> Result<Box<dyn crate::generate::Forward>, ModelError> {
        Ok(match kind {
            EngineKind::Cpu => Box::new(crate::model::CpuModel::with_products(
                self.weights.clone(),
                context,
                crate::model::cpu::Products::Int8,
            )),
            EngineKind::CpuReference => {
                Box::new(crate::model::CpuModel::new(self.weights.clone(), context))
            }
            EngineKind::Gpu => Box::new(
                pollster::block_on(crate::gpu::GpuModel::new(&self.weights, context, gpu))
                    .map_err(|e| ModelError::Invalid(e.to_string()))?,
            ),
        })
    }

    /// Ids of the chat format's end-of-turn tokens and the tokenizer's end-of-sequence token.
    pub fn stop_tokens(&self) -> Vec<u32> {
        stop_tokens(&self.chat, &self.tokenizer)
    }
}

/// The chat template a GGUF file carries (`tokenizer.chat_template`), or the documented
/// fallback when it has none; a template that does not compile is an error.
pub fn chat_template(file: &GgufFile, tokenizer: &Tokenizer) -> Result<ChatTemplate, ChatError> {
    let token = |id: Option<u32>| id.map(|id| tokenizer.token_text(id)).unwrap_or_default();
    let (bos, eos) = (token(tokenizer.bos), token(tokenizer.eos));
    match file
        .metadata
        .get("tokenizer.chat_template")
        .and_then(MetaValue::as_str)
    {
        Some(source) => ChatTemplate::new(source, &bos, &eos),
        None => Ok(ChatTemplate::fallback(&bos, &eos)),
    }
}

/// Ids of the chat template's end-of-turn tokens and the tokenizer's end-of-sequence token:
/// where an answer ends.
pub fn stop_tokens(chat: &ChatTemplate, tokenizer: &Tokenizer) -> Vec<u32> {
    let mut stops: Vec<u32> = chat
        .stop_markers()
        .into_iter()
        .filter_map(|t| tokenizer.token_id(t))
        .collect();
    stops.extend(tokenizer.eos);
    stops.sort_unstable();
    stops.dedup();
    stops
}
