//! The tokenizer embedded in GGUF metadata — GPT-2 style byte-level BPE
//! (`tokenizer.ggml.model = gpt2`, with llama.cpp's GPT-2, SmolLM, Llama 3 and Qwen2
//! pre-tokenization) and SentencePiece-style BPE (`llama`), checked token for token against
//! llama.cpp — or a Hugging Face `tokenizer.json`, read by the `tokenizers` crate (`hf`).

mod bytes;
mod hf;
mod pretokenize;
mod spm;

use std::collections::HashMap;

pub use hf::HfTokenizer;
pub use pretokenize::PreTokenizer;
pub use spm::Spm;

use crate::gguf::{GgufFile, MetaValue};

/// Why a tokenizer could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizerError(pub String);

impl std::fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tokenizer: {}", self.0)
    }
}

impl std::error::Error for TokenizerError {}

/// GGUF token type of control tokens (`<|im_start|>` and friends).
const CONTROL: i64 = 3;
/// GGUF token type of user-defined tokens.
const USER_DEFINED: i64 = 4;

/// A tokenizer: byte-level BPE (GPT-2 family) or, with `spm` set, SentencePiece-style BPE.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    ranks: HashMap<String, u32>,
    pre: PreTokenizer,
    special: Vec<(String, u32)>,
    /// Beginning-of-sequence token.
    pub bos: Option<u32>,
    /// End-of-sequence token.
    pub eos: Option<u32>,
    /// Whether prompts start with the BOS token (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
    /// SentencePiece scores and byte tokens (`tokenizer.ggml.model = llama`).
    spm: Option<Spm>,
    /// A `tokenizer.json` tokenizer, which then does all encoding and decoding.
    hf: Option<Box<HfTokenizer>>,
}

fn strings(value: Option<&MetaValue>, what: &str) -> Result<Vec<String>, TokenizerError> {
    match value {
        Some(MetaValue::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| TokenizerError(format!("{what} holds a non-string")))
            })
            .collect(),
        _ => Err(TokenizerError(format!("{what} is missing"))),
    }
}

/// GGUF token type of byte tokens (`<0x0A>`).
const BYTE: i64 = 6;

/// `tokenizer.ggml.token_type` (normal = 1 where absent or malformed).
fn token_types(meta: &std::collections::BTreeMap<String, MetaValue>, count: usize) -> Vec<i64> {
    match meta.get("tokenizer.ggml.token_type") {
        Some(MetaValue::Array(items)) => items
            .iter()
            .map(|v| match v {
                MetaValue::I64(t) => *t,
                MetaValue::U64(t) => *t as i64,
                _ => 1,
            })
            .collect(),
        _ => vec![1; count],
    }
}

/// The SentencePiece parts of GGUF metadata.
fn spm_of(
    meta: &std::collections::BTreeMap<String, MetaValue>,
    tokens: &[String],
) -> Result<Spm, TokenizerError> {
    let scores: Vec<f32> = match meta.get("tokenizer.ggml.scores") {
        Some(MetaValue::Array(items)) if items.len() == tokens.len() => items
            .iter()
            .map(|v| match v {
                MetaValue::F64(f) => Ok(*f as f32),
                _ => Err(TokenizerError(
                    "tokenizer.ggml.scores holds a non-number".into(),
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(TokenizerError(
                "tokenizer.ggml.scores is missing or does not match the tokens".into(),
            ));
        }
    };
    let types = token_types(meta, tokens.len());
    let mut byte_tokens = vec![None; 256];
    for (i, (text, kind)) in tokens.iter().zip(&types).enumerate() {
        if *kind == BYTE
            && let Some(hex) = text.strip_prefix("<0x").and_then(|t| t.strip_suffix('>'))
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            byte_tokens[byte as usize] = Some(i as u32);
        }
    }
    let unknown = meta
        .get("tokenizer.ggml.unknown_token_id")
        .and_then(MetaValue::as_u64)
        .map(|v| v as u32)
        .filter(|v| (*v as usize) < tokens.len());
    let add_space_prefix = !matches!(
        meta.get("tokenizer.ggml.add_space_prefix"),
        Some(MetaValue::Bool(false))
    );
    Ok(Spm {
        scores,
        byte_tokens,
        unknown,
        add_space_prefix,
    })
}

impl Tokenizer {
    /// Builds the tokenizer from a GGUF file's `tokenizer.ggml.*` metadata.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, TokenizerError> {
        let meta = &file.metadata;
        let model = meta
            .get("tokenizer.ggml.model")
            .and_then(MetaValue::as_str)
            .unwrap_or("");
        if model != "gpt2" && model != "llama" {
            return Err(TokenizerError(format!(
                "tokenizer model {model:?} is not supported (gpt2 and llama are)"
            )));
        }
        let pre_name = meta
            .get("tokenizer.ggml.pre")
            .and_then(MetaValue::as_str)
            .unwrap_or("gpt2");
        let pre = PreTokenizer::by_name(pre_name).ok_or_else(|| {
            TokenizerError(format!("pre-tokenizer {pre_name:?} is not supported yet"))
        })?;
        let tokens = strings(meta.get("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens")?;
        let merges = if model == "gpt2" {
            strings(meta.get("tokenizer.ggml.merges"), "tokenizer.ggml.merges")?
        } else {
            Vec::new()
        };
        let types = token_types(meta, tokens.len());
        let special: Vec<(String, u32)> = tokens
            .iter()
            .zip(&types)
            .enumerate()
            .filter(|(_, (_, t))| **t == CONTROL || **t == USER_DEFINED)
            .map(|(i, (text, _))| (text.clone(), i as u32))
            .filter(|(text, _)| !text.is_empty())
            .collect();
        let id = |key: &str| {
            meta.get(key)
                .and_then(MetaValue::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| (*v as usize) < tokens.len())
        };
        let (bos, eos) = (
            id("tokenizer.ggml.bos_token_id"),
            id("tokenizer.ggml.eos_token_id"),
        );
        let add_bos = matches!(
            meta.get("tokenizer.ggml.add_bos_token"),
            Some(MetaValue::Bool(true))
        );
        let spm = if model == "llama" {
            Some(spm_of(meta, &tokens)?)
        } else {
            None
        };
        let mut tokenizer = Self::assemble(tokens, merges, special, pre, bos, eos, add_bos);
        tokenizer.spm = spm;
        Ok(tokenizer)
    }

    /// Builds the tokenizer from a Hugging Face `tokenizer.json`, read by the `tokenizers`
    /// crate (any model type it knows; byte-level or SentencePiece-style token text).
    pub fn from_tokenizer_json(text: &str) -> Result<Self, TokenizerError> {
        let hf = HfTokenizer::parse(text)?;
        let special = hf.added();
        let eos = [
            "<|endoftext|>",
            "<|im_end|>",
            "</s>",
            "<|end_of_text|>",
            "<|eot_id|>",
        ]
        .iter()
        .find_map(|t| special.iter().find(|(s, _)| s == t).map(|(_, id)| *id));
        let bos = hf.prefix_token();
        let mut tokenizer = Self::assemble(
            hf.tokens(),
            Vec::new(),
            special,
            PreTokenizer::Gpt2,
            bos,
            eos,
            bos.is_some(),
        );
        tokenizer.hf = Some(Box::new(hf));
        Ok(tokenizer)
    }

    fn assemble(
        tokens: Vec<String>,
        merges: Vec<String>,
        mut special: Vec<(String, u32)>,
        pre: PreTokenizer,
        bos: Option<u32>,
        eos: Option<u32>,
        add_bos: bool,
    ) -> Self {
        let ids = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let ranks = merges
            .into_iter()
            .enumerate()
            .map(|(i, m)| (m, i as u32))
            .collect();
        special.sort_by_key(|(text, _)| std::cmp::Reverse(text.len()));
        Self {
            tokens,
            ids,
            ranks,
            pre,
            special,
            bos,
            eos,
            add_bos,
            spm: None,
            hf: None,
        }
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// Encodes plain text: special-token strings are treated as ordinary text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        if let Some(hf) = &self.hf {
            return hf.encode(text, false);
        }
        let mut out = Vec::new();
        self.encode_fragment(text, true, &mut out);
        Ok(out)
    }

    /// One fragment of text between special tokens (`first`: at the start or after one).
    fn encode_fragment(&self, text: &str, first: bool, out: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        if let Some(spm) = &self.spm {
            spm.encode(&self.ids, &spm.escape(text, first), out);
            return;
        }
        for piece in self.pre.split(text) {
            self.encode_piece(piece, out);
        }
    }

    /// Encodes text in which special-token strings (e.g. `<|im_start|>`) become their ids,
    /// as raw prompts typed by a developer need. Prompts built from templates and user text
    /// use [`Tokenizer::encode_prompt`] instead.
    pub fn encode_with_special(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        if let Some(hf) = &self.hf {
            return hf.encode(text, true);
        }
        let mut out = Vec::new();
        self.split_special(text, &mut out, |fragment, out| {
            self.encode_fragment(fragment, true, out);
            Ok(())
        })?;
        Ok(out)
    }

    /// Encodes a prompt built by `chat` or `fim`: special-token strings of the builder become
    /// their ids, while text escaped with [`crate::prompt::plain`] (file contents, selections,
    /// what the user typed) is encoded as plain text whatever it contains.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let mut out = Vec::new();
        self.split_special(text, &mut out, |fragment, out| {
            let fragment = crate::prompt::display(fragment);
            if fragment.is_empty() {
                return Ok(());
            }
            match &self.hf {
                Some(hf) => out.extend(hf.encode(&fragment, false)?),
                None => self.encode_fragment(&fragment, true, out),
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Splits `text` at special-token strings (leftmost, then longest): each becomes its id,
    /// and `fragment` encodes the text between them.
    fn split_special(
        &self,
        text: &str,
        out: &mut Vec<u32>,
        mut fragment: impl FnMut(&str, &mut Vec<u32>) -> Result<(), TokenizerError>,
    ) -> Result<(), TokenizerError> {
        let mut rest = text;
        while !rest.is_empty() {
            let next = self
                .special
                .iter()
                .filter_map(|(s, id)| rest.find(s.as_str()).map(|at| (at, s.len(), *id)))
                .min_by_key(|(at, len, _)| (*at, std::cmp::Reverse(*len)));
            match next {
                Some((at, len, id)) => {
                    fragment(&rest[..at], out)?;
                    out.push(id);
                    rest = &rest[at + len..];
                }
                None => {
                    fragment(rest, out)?;
                    break;
                }
            }
        }
        Ok(())
    }

    fn encode_piece(&self, piece: &str, out: &mut Vec<u32>) {
        let mapped = bytes::to_symbols(piece.as_bytes());
        let mut symbols: Vec<String> = mapped.chars().map(String::from).collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(i, pair)| {
                    self.ranks
                        .get(&format!("{} {}", pair[0], pair[1]))
                        .map(|rank| (*rank, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let right = symbols.remove(i + 1);
            symbols[i].push_str(&right);
        }
        for symbol in symbols {
            match self.ids.get(&symbol) {
                Some(id) => out.push(*id),
                None => out.extend(
                    symbol
                        .chars()
                        .filter_map(|c| self.ids.get(&c.to_string()).copied()),
                ),
            }
        }
    }

    /// The id of a vocabulary entry given as its text (e.g. `<|im_end|>` for a stop token).
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    /// The vocabulary entry of `id` as text (e.g. `<|im_start|>`), as templates name it.
    pub fn token_text(&self, id: u32) -> String {
        self.tokens.get(id as usize).cloned().unwrap_or_default()
    }

    /// Prompt ids for text built by `chat` or `fim` ([`Tokenizer::encode_prompt`]), with the
    /// BOS token first where the model wants one and the text does not already start with it.
    pub fn prompt_ids(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = self.encode_prompt(text)?;
        if self.add_bos
            && let Some(bos) = self.bos
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
        }
        Ok(ids)
    }

    /// Whether `id` is a control or user-defined token (rendered as its literal text).
    pub fn is_special(&self, id: u32) -> bool {
        self.special.iter().any(|(_, s)| *s == id)
    }

    /// The raw bytes one token stands for; streaming joins these and emits only whole UTF-8.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        match self.tokens.get(id as usize) {
            Some(token) if self.is_special(id) => token.as_bytes().to_vec(),
            Some(token) => match (&self.hf, &self.spm) {
                (Some(hf), _) => hf.token_bytes(token),
                (None, Some(spm)) => spm.token_bytes(token),
                (None, None) => bytes::from_symbols(token),
            },
            None => Vec::new(),
        }
    }

    /// Decodes ids back to text (invalid UTF-8 from partial tokens becomes U+FFFD).
    /// (SentencePiece: the space prefixed to each fragment at encoding is removed again.)
    pub fn decode(&self, ids: &[u32]) -> String {
        if let Some(text) = self.hf.as_ref().and_then(|hf| hf.decode(ids)) {
            return text;
        }
        let strip = self.spm.as_ref().is_some_and(|s| s.add_space_prefix);
        let mut raw = Vec::new();
        let mut fragment_start = true;
        for id in ids {
            let bytes = self.token_bytes(*id);
            if self.is_special(*id) {
                fragment_start = true;
                raw.extend(bytes);
                continue;
            }
            let skip = usize::from(strip && fragment_start && bytes.first() == Some(&b' '));
            raw.extend(&bytes[skip..]);
            fragment_start = false;
        }
        String::from_utf8_lossy(&raw).into_owned()
    }
}
