//! Choosing the next token from logits: greedy, or temperature with top-k / top-p and a
//! repetition penalty, driven by a seeded RNG so runs are reproducible.

/// Sampling settings; `temperature == 0` means greedy.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; 0 picks the most likely token.
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p (1.0 = all).
    pub top_p: f32,
    /// Divides positive (multiplies negative) logits of tokens already seen (1.0 = off).
    pub repetition_penalty: f32,
    /// RNG seed.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Refuses settings that make no sense, with a message naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(format!("temperature must be ≥ 0, got {}", self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("top-p must be in (0, 1], got {}", self.top_p));
        }
        if !self.repetition_penalty.is_finite() || self.repetition_penalty <= 0.0 {
            return Err(format!(
                "repetition penalty must be > 0, got {}",
                self.repetition_penalty
            ));
        }
        Ok(())
    }
}

/// xoshiro256** seeded through splitmix64: small, fast, identical on every platform.
#[derive(Debug, Clone)]
pub struct Rng([u64; 4]);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Self([next(), next(), next(), next()])
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// What a sampler needs from each forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Every logit (temperature sampling, or a repetition penalty).
    Logits,
    /// Only the most likely token (greedy, no repetition penalty).
    Argmax,
}

/// The sampler: settings plus RNG state.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
}

/// Index of the largest value (the first on ties, as reference implementations do).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

impl Sampler {
    /// A sampler for validated `params`.
    pub fn new(params: SamplingParams) -> Self {
        let rng = Rng::new(params.seed);
        Self { params, rng }
    }

    /// What this sampler needs from each forward pass: an engine that can pick the argmax
    /// where the logits are then reads back one index instead of the vocabulary's logits.
    pub fn wants(&self) -> Want {
        let p = &self.params;
        if p.temperature == 0.0 && p.repetition_penalty == 1.0 {
            Want::Argmax
        } else {
            Want::Logits
        }
    }

    /// Picks a token from `logits` given the tokens seen so far (prompt and output).
    pub fn sample(&mut self, logits: &mut [f32], seen: &[u32]) -> u32 {
        let p = &self.params;
        if p.repetition_penalty != 1.0 {
            let mut done = std::collections::HashSet::new();
            for token in seen {
                if let Some(l) = logits.get_mut(*token as usize)
                    && done.insert(*token)
                {
                    *l = if *l > 0.0 {
                        *l / p.repetition_penalty
                    } else {
                        *l * p.repetition_penalty
                    };
                }
            }
        }
        if p.temperature == 0.0 {
            return argmax(logits);
        }
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .map(|(i, l)| (i as u32, *l / p.temperature))
            .collect();
        if candidates.is_empty() {
            return argmax(logits);
        }
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if p.top_k > 0 {
            candidates.truncate(p.top_k);
        }
        let max = candidates[0].1;
        let mut total = 0.0;
        for c in &mut candidates {
            c.1 = (c.1 - max).exp();
            total += c.1;
        }
        if p.top_p < 1.0 {
            let mut running = 0.0;
            let mut keep = candidates.len();
            for (i, c) in candidates.iter().enumerate() {
                running += c.1 / total;
                if running >= p.top_p {
                    keep = i + 1;
                    break;
                }
            }
            candidates.truncate(keep);
            total = candidates.iter().map(|c| c.1).sum();
        }
        let mut target = self.rng.next_f32() * total;
        for (token, weight) in &candidates {
            if target < *weight {
                return *token;
            }
            target -= weight;
        }
        candidates[candidates.len() - 1].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32) -> SamplingParams {
        SamplingParams {
            temperature,
            ..SamplingParams::default()
        }
    }

    #[test]
    fn what_a_sampler_wants_from_the_engine() {
        let with = |temperature, top_k, repetition_penalty| {
            Sampler::new(SamplingParams {
                top_k,
                repetition_penalty,
                ..params(temperature)
            })
            .wants()
        };
        assert_eq!(with(0.0, 0, 1.0), Want::Argmax);
        assert_eq!(with(0.0, 0, 1.1), Want::Logits);
        assert_eq!(with(0.8, 40, 1.0), Want::Logits);
        assert_eq!(with(0.8, 0, 1.1), Want::Logits);
    }

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut sampler = Sampler::new(params(0.0));
        assert_eq!(sampler.sample(&mut [0.1, 3.0, 3.0, -1.0], &[]), 1);
    }

    #[test]
    fn same_seed_same_tokens_and_different_seed_differs() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let run = |seed| {
            let mut sampler = Sampler::new(SamplingParams {
                seed,
                ..params(1.0)
            });
            (0..64)
                .map(|_| sampler.sample(&mut logits.clone(), &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn top_k_one_is_greedy_and_top_p_keeps_the_head() {
        let logits = [1.0, 5.0, 2.0, 4.9];
        let mut top1 = Sampler::new(SamplingParams {
            top_k: 1,
            ..params(2.0)
        });
        for _ in 0..20 {
            assert_eq!(top1.sample(&mut logits.clone(), &[]), 1);
        }
        let mut nucleus = Sampler::new(SamplingParams {
            top_p: 0.9,
            ..params(1.0)
        });
        for _ in 0..200 {
            let token = nucleus.sample(&mut logits.clone(), &[]);
            assert!(
                token == 1 || token == 3,
                "token {token} is outside the nucleus"
            );
        }
    }

    #[test]
    fn repetition_penalty_moves_greedy_off_a_seen_token() {
        let mut sampler = Sampler::new(SamplingParams {
            repetition_penalty: 2.0,
            ..params(0.0)
        });
        assert_eq!(sampler.sample(&mut [3.0, 2.0, -1.0], &[0]), 1);
    }

    #[test]
    fn nonsense_settings_are_refused() {
        assert!(params(-1.0).validate().is_err());
        assert!(
            SamplingParams {
                top_p: 0.0,
                ..params(1.0)
            }
            .validate()
            .is_err()
        );
        assert!(
            SamplingParams {
                repetition_penalty: 0.0,
                ..params(1.0)
            }
            .validate()
            .is_err()
        );
        assert!(params(0.7).validate().is_ok());
    }
}
