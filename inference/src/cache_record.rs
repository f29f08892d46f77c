//! Which tokens a model's KV cache holds, position by position, so that the next prompt that
//! starts with them runs only what follows: a chat's next turn and an agent's next step
//! re-read their whole history otherwise (llama.cpp's server calls this prompt caching).
//! Keys and values at a position depend only on the tokens up to it, so the held prefix is
//! exactly what a cold run would compute there.

/// The tokens whose keys and values sit in a model's cache, in position order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheRecord {
    tokens: Vec<u32>,
}

impl CacheRecord {
    /// How many leading tokens of `prompt` need not run again. The last prompt token always
    /// runs: its pass gives the logits that pick the first new token.
    pub fn reusable(&self, prompt: &[u32]) -> usize {
        let same = self
            .tokens
            .iter()
            .zip(prompt)
            .take_while(|(held, wanted)| held == wanted)
            .count();
        same.min(prompt.len().saturating_sub(1))
    }

    /// Records that `tokens` ran at positions `start..`: what the cache held from `start` on
    /// is overwritten or no longer follows. A start past the held tokens leaves a gap of
    /// unknown positions, so everything is forgotten.
    pub fn ran(&mut self, start: usize, tokens: &[u32]) {
        if start > self.tokens.len() {
            self.tokens.clear();
            return;
        }
        self.tokens.truncate(start);
        self.tokens.extend_from_slice(tokens);
    }

    /// Forgets everything: after a failed pass the cache's contents are unknown.
    pub fn clear(&mut self) {
        self.tokens.clear();
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_reuses_the_held_prefix_and_always_runs_its_last_token() {
        let mut record = CacheRecord::default();
        assert_eq!(record.reusable(&[1, 2, 3]), 0, "nothing held");
        record.ran(0, &[1, 2, 3, 4]);
        record.ran(4, &[5]);
        assert_eq!(record.len(), 5);
        assert_eq!(record.reusable(&[1, 2, 3, 4, 5, 6, 7]), 5, "the next turn");
        assert_eq!(record.reusable(&[1, 2, 9, 4]), 2, "an edit in the history");
        assert_eq!(record.reusable(&[1, 2, 3]), 2, "the same prompt again");
        assert_eq!(record.reusable(&[7]), 0);
        assert_eq!(record.reusable(&[]), 0);
    }

    #[test]
    fn running_over_a_position_drops_what_followed_it() {
        let mut record = CacheRecord::default();
        record.ran(0, &[1, 2, 3, 4]);
        record.ran(2, &[8]);
        assert_eq!(record.reusable(&[1, 2, 8, 4, 0]), 3);
        assert_eq!(record.reusable(&[1, 2, 3, 4, 0]), 2, "3 and 4 are gone");
        record.ran(9, &[1]);
        assert!(record.is_empty(), "a gap forgets everything");
        record.ran(0, &[1, 2]);
        record.clear();
        assert_eq!(record.reusable(&[1, 2, 3]), 0);
    }
}
