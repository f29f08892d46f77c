//! Hugging Face `tokenizer.json` files, read by the `tokenizers` crate itself (fancy-regex
//! instead of Oniguruma, so the same code builds for wasm32): BPE, Unigram and WordLevel
//! models with whatever normalizer and pre-tokenizer the file names.

use super::TokenizerError;

/// How a token's text maps back to the bytes it stands for (for streaming whole UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenText {
    /// GPT-2 byte-level: every character is one byte (`Ġ` is a space).
    ByteLevel,
    /// SentencePiece style: `▁` is a space, `<0xNN>` is a byte.
    Metaspace,
}

/// A `tokenizer.json` tokenizer.
#[derive(Debug, Clone)]
pub struct HfTokenizer {
    /// Added tokens in the text become their ids (chat templates).
    with_special: tokenizers::Tokenizer,
    /// Added tokens' strings are encoded as ordinary text (user text).
    plain: tokenizers::Tokenizer,
    token_text: TokenText,
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
        let with_special = tokenizers::Tokenizer::from_bytes(text.as_bytes())
            .map_err(|e| error("unreadable", e))?;
        let mut plain = with_special.clone();
        plain.set_encode_special_tokens(true);
        Ok(Self {
            with_special,
            plain,
            token_text,
        })
    }

    /// Every token (added ones included) by id; ids without a token are empty strings.
    pub fn tokens(&self) -> Vec<String> {
        let vocab = self.with_special.get_vocab(true);
        let size = vocab.values().map(|id| *id as usize + 1).max().unwrap_or(0);
        let mut tokens = vec![String::new(); size];
        for (text, id) in vocab {
            tokens[id as usize] = text;
        }
        tokens
    }

    /// The added tokens (`<|im_start|>` and friends), which decode to their literal text.
    pub fn added(&self) -> Vec<(String, u32)> {
        self.with_special
            .get_added_tokens_decoder()
            .into_iter()
            .map(|(id, token)| (token.content, id))
            .collect()
    }

    /// The token the post-processor puts before every sequence, if any (BOS).
    pub fn prefix_token(&self) -> Option<u32> {
        let bare = self.with_special.encode("a", false).ok()?;
        let framed = self.with_special.encode("a", true).ok()?;
        let (bare, framed) = (bare.get_ids(), framed.get_ids());
        (framed.len() > bare.len() && framed[1..].starts_with(bare)).then(|| framed[0])
    }

    /// Encodes text; `special` lets added-token strings become their ids. Text the model
    /// cannot encode yields no ids rather than an error (the crate errs only on internal bugs).
    pub fn encode(&self, text: &str, special: bool) -> Vec<u32> {
        let tokenizer = if special {
            &self.with_special
        } else {
            &self.plain
        };
        tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// Decodes ids (added tokens included) to text.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.with_special.decode(ids, false).unwrap_or_default()
    }

    /// The bytes a non-added token's text stands for.
    pub fn token_bytes(&self, token: &str) -> Vec<u8> {
        match self.token_text {
            TokenText::ByteLevel => super::bytes::from_symbols(token),
            TokenText::Metaspace => super::spm::metaspace_bytes(token),
        }
    }
}
