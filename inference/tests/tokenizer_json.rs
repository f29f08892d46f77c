//! Hugging Face `tokenizer.json` files beyond byte-level BPE, read through the `tokenizers`
//! crate: SentencePiece-style BPE with byte fallback (Llama 2 / Mistral / CodeLlama) and
//! Unigram with Metaspace, against what the Python `tokenizers` package made of the same
//! texts (fixtures/tokenizers/make_tokenizer_fixtures.py).

mod common;

use airlock_inference::tokenizer::Tokenizer;
use common::ids;
use serde_json::Value;

fn fixture(name: &str) -> (Tokenizer, Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizers");
    let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
    let reference = std::fs::read_to_string(dir.join(format!("{name}.reference.json"))).unwrap();
    (
        Tokenizer::from_tokenizer_json(&text).unwrap(),
        serde_json::from_str(&reference).unwrap(),
    )
}

#[test]
fn sentencepiece_and_unigram_tokenizer_json_match_python_tokenizers() {
    for name in ["spm-bpe", "unigram"] {
        let (tokenizer, reference) = fixture(name);
        assert_eq!(
            tokenizer.vocab_size(),
            reference["vocab_size"].as_u64().unwrap() as usize
        );
        assert_eq!(
            tokenizer.bos,
            reference["bos"].as_u64().map(|b| b as u32),
            "{name}"
        );
        assert_eq!(tokenizer.add_bos, tokenizer.bos.is_some());
        let cases = reference["cases"].as_array().unwrap();
        assert!(cases.len() >= 8);
        for case in cases {
            let text = case["text"].as_str().unwrap();
            let expected = ids(&case["ids"]);
            assert_eq!(
                tokenizer.encode(text).unwrap(),
                expected,
                "{name}: {text:?}"
            );
            let decoded = case["decoded"].as_str().unwrap();
            assert_eq!(tokenizer.decode(&expected), decoded, "{name}: {text:?}");
            // Streaming joins token bytes: they must spell the decoded text (SentencePiece
            // keeps the space it puts before the first word; decode strips it).
            let streamed: Vec<u8> = expected
                .iter()
                .flat_map(|id| tokenizer.token_bytes(*id))
                .collect();
            let streamed = String::from_utf8(streamed).unwrap();
            assert!(
                streamed == decoded || streamed.strip_prefix(' ') == Some(decoded),
                "{name}: streamed {streamed:?}, decoded {decoded:?}"
            );
        }
    }
}

#[test]
fn special_token_strings_are_ids_only_when_asked() {
    let (tokenizer, _) = fixture("spm-bpe");
    let eos = tokenizer.token_id("</s>").unwrap();
    assert_eq!(tokenizer.eos, Some(eos));
    let with_special = tokenizer.encode_with_special("done</s>").unwrap();
    assert_eq!(with_special.last(), Some(&eos));
    let plain = tokenizer.encode("done</s>").unwrap();
    assert!(
        !plain.contains(&eos),
        "user text spelling </s> is not the end-of-sequence token"
    );
    assert_eq!(tokenizer.decode(&plain), "done</s>");
}

#[test]
fn broken_tokenizer_json_is_a_clear_error() {
    for (text, expected) in [
        ("not json", "not JSON"),
        ("{\"model\": {\"type\": \"Unigram\"}}", "decoder"),
        (
            "{\"model\": {\"type\": \"Nonsense\"}, \"decoder\": {\"type\": \"ByteLevel\"}}",
            "unreadable",
        ),
    ] {
        let error = Tokenizer::from_tokenizer_json(text)
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{text}: {error}");
    }
}

#[test]
fn text_the_model_cannot_encode_is_an_error_not_an_empty_prompt() {
    let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
        "normalizer":null,"pre_tokenizer":null,"post_processor":null,
        "decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},
        "model":{"type":"WordLevel","vocab":{"a":0,"b":1},"unk_token":"[UNK]"}}"#;
    let tokenizer = Tokenizer::from_tokenizer_json(json).unwrap();
    assert_eq!(tokenizer.encode("a").unwrap(), [0]);
    let error = tokenizer.encode("c").unwrap_err().to_string();
    assert!(error.contains("cannot encode"), "{error}");
    assert!(tokenizer.encode_with_special("c").is_err());
}
