//! SentencePiece-style BPE as llama.cpp runs it for `tokenizer.ggml.model = llama` vocabularies
//! (Llama 2, Mistral, TinyLlama): spaces become `▁`, a space is prefixed to each text fragment
//! at the start and after special tokens, adjacent pieces merge by highest vocabulary score
//! (leftmost first on ties), and characters outside the vocabulary fall back to `<0xXX>` bytes.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// The scores and byte tokens a SentencePiece vocabulary adds to the plain token list.
#[derive(Debug, Clone)]
pub struct Spm {
    /// Merge priority of every token (higher merges first).
    pub scores: Vec<f32>,
    /// The `<0xXX>` token of each byte value.
    pub byte_tokens: Vec<Option<u32>>,
    /// Token for anything unrepresentable.
    pub unknown: Option<u32>,
    /// Whether a space is prefixed to text fragments.
    pub add_space_prefix: bool,
}

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bigram {
    /// Highest score first; on equal scores the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl Spm {
    /// The text SentencePiece sees for a fragment: optional leading space, spaces as `▁`.
    pub fn escape(&self, text: &str, prefix: bool) -> String {
        let mut escaped = String::with_capacity(text.len() + 3);
        if prefix && self.add_space_prefix {
            escaped.push('▁');
        }
        for c in text.chars() {
            if c == ' ' {
                escaped.push('▁');
            } else {
                escaped.push(c);
            }
        }
        escaped
    }

    /// Appends the ids of already-escaped `text` to `out`.
    pub fn encode(&self, ids: &HashMap<String, u32>, text: &str, out: &mut Vec<u32>) {
        let mut symbols: Vec<Symbol> = Vec::new();
        for (i, (start, c)) in text.char_indices().enumerate() {
            symbols.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: None,
            });
            if i > 0 {
                symbols[i - 1].next = Some(i);
            }
        }
        let mut queue = BinaryHeap::new();
        let try_add =
            |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: usize, right: usize| {
                let (l, r) = (symbols[left], symbols[right]);
                let piece = &text[l.start..r.start + r.len];
                if let Some(id) = ids.get(piece) {
                    queue.push(Bigram {
                        score: self.scores.get(*id as usize).copied().unwrap_or(f32::MIN),
                        left,
                        right,
                        size: piece.len(),
                    });
                }
            };
        for i in 1..symbols.len() {
            try_add(&mut queue, &symbols, i - 1, i);
        }
        while let Some(bigram) = queue.pop() {
            let (l, r) = (symbols[bigram.left], symbols[bigram.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != bigram.size {
                continue;
            }
            symbols[bigram.left].len += r.len;
            symbols[bigram.right].len = 0;
            symbols[bigram.left].next = r.next;
            if let Some(next) = r.next {
                symbols[next].prev = Some(bigram.left);
            }
            if let Some(prev) = symbols[bigram.left].prev {
                try_add(&mut queue, &symbols, prev, bigram.left);
            }
            if let Some(next) = symbols[bigram.left].next {
                try_add(&mut queue, &symbols, bigram.left, next);
            }
        }
        let mut at = if symbols.is_empty() { None } else { Some(0) };
        while let Some(i) = at {
            let s = symbols[i];
            let piece = &text[s.start..s.start + s.len];
            match ids.get(piece) {
                Some(id) => out.push(*id),
                None => {
                    for byte in piece.bytes() {
                        if let Some(id) = self.byte_tokens[byte as usize].or(self.unknown) {
                            out.push(id);
                        }
                    }
                }
            }
            at = s.next;
        }
    }

    /// The bytes of a (non-special) token: `<0xXX>` is that byte, `▁` is a space.
    pub fn token_bytes(&self, token: &str) -> Vec<u8> {
        metaspace_bytes(token)
    }
}

/// The bytes of a SentencePiece-style token: `<0xXX>` is that byte, `▁` is a space.
pub fn metaspace_bytes(token: &str) -> Vec<u8> {
    if let Some(hex) = token.strip_prefix("<0x").and_then(|t| t.strip_suffix('>'))
        && hex.len() == 2
        && let Ok(byte) = u8::from_str_radix(hex, 16)
    {
        return vec![byte];
    }
    token.replace('▁', " ").into_bytes()
}
