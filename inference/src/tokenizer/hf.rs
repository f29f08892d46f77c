//! Hugging Face `tokenizer.json` files, read by the `tokenizers` crate itself (fancy-regex
//! instead of Oniguruma, so the same code builds for wasm32): BPE, Unigram and WordLevel
//! models with whatever normalizer and pre-tokenizer the file names.

use std::sync::{Mutex, MutexGuard};

use super::TokenizerError;

/// How a token's text maps back to the bytes it stands for (for streaming whole UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenText {
    /// GPT-2 byte-level: every character is one byte (`Ġ` is a space).
    ByteLevel,
    /// SentencePiece style: `▁` is a space, `<0xNN>` is a byte.
    Metaspace,
}

/// A `tokenizer.json` tokenizer. One copy serves both encodings: whether added-token strings
/// become their ids is a switch on the tokenizer, flipped under the lock for each call.
#[derive(Debug)]
pub struct HfTokenizer {
    inner: Mutex<tokenizers::Tokenizer>,
    token_text: TokenText,
}

impl Clone for HfTokenizer {
    fn clone(&self) -> Self {
        Self {
            inner: Mutex::new(self.tokenizer().clone()),
            token_text: self.token_text,
        }
    }
}

fn error(what: &str, e: impl std::fmt::Display) -> TokenizerError {
    TokenizerError(format!("tokenizer.json: {what}: {e}"))
}

impl HfTokenizer {
    /// Parses a `tokenizer.json` document.
    pub fn parse(text: &str) -> Result<Self, TokenizerError> {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| error("not JSON", e))?;
        let decoder = json["decoder"].to_string();
        let token_text = if decoder.contains("\"ByteLevel\"") {
            TokenText::ByteLevel
        } else if decoder.contains("\"Metaspace\"")
            || decoder.contains("\"ByteFallback\"")
            || decoder.contains('▁')
        {
            TokenText::Metaspace
        } else {
            return Err(TokenizerError(format!(
                "tokenizer.json: decoder {decoder} is not byte-level or SentencePiece-style, \
                 so generated text cannot be streamed"
            )));
        };
        let tokenizer = tokenizers::Tokenizer::from_bytes(text.as_bytes())
            .map_err(|e| error("unreadable", e))?;
        Ok(Self {
            inner: Mutex::new(tokenizer),
            token_text,
        })
    }

    /// The tokenizer (a panic elsewhere while it was held cannot leave it half-changed: the
    /// only change made under the lock is the special-token switch, set before each use).
    fn tokenizer(&self) -> MutexGuard<'_, tokenizers::Tokenizer> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every token (added ones included) by id; ids without a token are empty strings.
    pub fn tokens(&self) -> Vec<String> {
        let vocab = self.tokenizer().get_vocab(true);
        let size = vocab.values().map(|id| *id as usize + 1).max().unwrap_or(0);
        let mut tokens = vec![String::new(); size];
        for (text, id) in vocab {
            tokens[id as usize] = text;
        }
        tokens
    }

    /// The added tokens (`<|im_start|>` and friends), which decode to their literal text.
    pub fn added(&self) -> Vec<(String, u32)> {
        self.tokenizer()
            .get_added_tokens_decoder()
            .into_iter()
            .map(|(id, token)| (token.content, id))
            .collect()
    }

    /// The token the post-processor puts before every sequence, if any (BOS).
    pub fn prefix_token(&self) -> Option<u32> {
        let tokenizer = self.tokenizer();
        let bare = tokenizer.encode("a", false).ok()?;
        let framed = tokenizer.encode("a", true).ok()?;
        let (bare, framed) = (bare.get_ids(), framed.get_ids());
        (framed.len() > bare.len() && framed[1..].starts_with(bare)).then(|| framed[0])
    }

    /// Encodes text; `special` lets added-token strings become their ids. Text the model
    /// cannot encode (e.g. an unknown word in a model without an unknown token) is an error.
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>, TokenizerError> {
        let mut tokenizer = self.tokenizer();
        tokenizer.set_encode_special_tokens(!special);
        tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| error("cannot encode the text", e))
    }

    /// Decodes ids (added tokens included) to text; `None` if the file's decoder fails.
    pub fn decode(&self, ids: &[u32]) -> Option<String> {
        self.tokenizer().decode(ids, false).ok()
    }

    /// The bytes a non-added token's text stands for.
    pub fn token_bytes(&self, token: &str) -> Vec<u8> {
        match self.token_text {
            TokenText::ByteLevel => super::bytes::from_symbols(token),
            TokenText::Metaspace => super::spm::metaspace_bytes(token),
        }
    }
}
