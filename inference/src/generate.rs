//! The generation loop: prefill the prompt, then sample token by token into the preallocated
//! KV cache, streaming whole UTF-8 text, until a stop token, a stop string, the token budget,
//! the context end, or cancellation.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::constrain::{Constraint, ToolGrammar};
use crate::model::ModelError;
use crate::sampling::{Sampler, SamplingParams, Want};

/// Anything that turns tokens at positions into next-token logits (the CPU engine, the GPU
/// engine); generation is written once against this.
pub trait Forward {
    /// Runs `tokens` at positions `start..`, returning the logits after the last one.
    fn forward(&mut self, tokens: &[u32], start: usize) -> Result<Vec<f32>, ModelError>;
    /// Positions the KV cache holds.
    fn capacity(&self) -> usize;
    /// As `forward`, but returns only the most likely next token (the first on ties), so an
    /// engine that can pick it where the logits are need not hand them all over.
    fn forward_greedy(&mut self, tokens: &[u32], start: usize) -> Result<u32, ModelError> {
        Ok(crate::sampling::argmax(&self.forward(tokens, start)?))
    }
    /// Runs `tokens` and returns what `want` asks for.
    fn forward_for(
        &mut self,
        want: Want,
        tokens: &[u32],
        start: usize,
    ) -> Result<Output, ModelError> {
        Ok(match want {
            Want::Logits => Output::Logits(self.forward(tokens, start)?),
            Want::Argmax => Output::Argmax(self.forward_greedy(tokens, start)?),
        })
    }
}

/// What one forward pass hands the generator, as `Generator::wants` asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Every logit.
    Logits(Vec<f32>),
    /// The most likely token.
    Argmax(u32),
}

impl Forward for crate::model::CpuModel {
    fn forward(&mut self, tokens: &[u32], start: usize) -> Result<Vec<f32>, ModelError> {
        crate::model::CpuModel::forward(self, tokens, start)
    }

    fn capacity(&self) -> usize {
        crate::model::CpuModel::capacity(self)
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Request {
    /// Prompt token ids (template already applied).
    pub prompt: Vec<u32>,
    /// Most tokens to produce.
    pub max_tokens: usize,
    /// Sampling settings.
    pub sampling: SamplingParams,
    /// Tokens that end the answer (not included in it).
    pub stop_tokens: Vec<u32>,
    /// Strings that end the answer (cut from it).
    pub stop_strings: Vec<String>,
    /// When set, a `<tool_call>` the model opens must follow these tools' schemas
    /// ([`crate::constrain`]); every step then reads the logits.
    pub tools: Option<ToolGrammar>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `max_tokens` produced.
    MaxTokens,
    /// A stop token came.
    StopToken,
    /// A stop string appeared.
    StopString,
    /// The KV cache is full.
    ContextFull,
    /// The caller set the cancel flag.
    Cancelled,
}

/// The result and its timings.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Generated token ids (without a stop token).
    pub tokens: Vec<u32>,
    /// Generated text (cut before a stop string).
    pub text: String,
    /// Why it ended.
    pub stop: StopReason,
    /// Seconds spent on the prompt.
    pub prefill_seconds: f64,
    /// Seconds spent producing tokens after the first.
    pub decode_seconds: f64,
}

impl Generation {
    /// Prompt tokens per second.
    pub fn prefill_rate(&self, prompt_tokens: usize) -> f64 {
        prompt_tokens as f64 / self.prefill_seconds.max(1e-9)
    }

    /// Generated tokens per second (each decode step after the prefill).
    pub fn decode_rate(&self) -> f64 {
        self.tokens.len().saturating_sub(1) as f64 / self.decode_seconds.max(1e-9)
    }
}

/// Seconds since an arbitrary start (0 in the browser build, which times on the JS side).
fn now() -> f64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs_f64()
    }
    #[cfg(target_arch = "wasm32")]
    {
        0.0
    }
}

/// Turns token bytes into text pieces: only whole UTF-8 is emitted, and text that might be the
/// start of a stop string is held back until it is known not to be.
struct TextStream {
    pending: Vec<u8>,
    text: String,
    emitted: usize,
}

impl TextStream {
    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        let piece: Vec<u8> = self.pending.drain(..valid).collect();
        self.text.push_str(&String::from_utf8_lossy(&piece));
    }

    /// The first stop string found in the text so far, cutting the text before it.
    fn cut_at_stop(&mut self, stops: &[String]) -> bool {
        let found = stops
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| self.text.find(s.as_str()))
            .min();
        if let Some(at) = found {
            self.text.truncate(at);
            return true;
        }
        false
    }

    /// Text that can be shown now.
    fn ready(&mut self, stops: &[String], finished: bool) -> &str {
        let mut end = self.text.len();
        if !finished {
            for stop in stops {
                for len in (1..stop.len()).rev() {
                    if stop.is_char_boundary(len) && self.text.ends_with(&stop[..len]) {
                        end = end.min(self.text.len() - len);
                        break;
                    }
                }
            }
        }
        let start = self.emitted.min(end);
        self.emitted = end.max(self.emitted);
        &self.text[start..end]
    }
}

/// What the driver of a `Generator` does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Run `token` at `position` and hand the logits to `Generator::step` again.
    Forward {
        /// The token just produced.
        token: u32,
        /// Its position in the sequence.
        position: usize,
    },
    /// Generation has ended.
    Done(StopReason),
}

/// The generation rules as a state machine, so that a synchronous driver (`generate`) and an
/// asynchronous one (the browser, where every GPU read is async) share them exactly.
pub struct Generator<'a> {
    request: &'a Request,
    capacity: usize,
    sampler: Sampler,
    seen: Vec<u32>,
    stream: TextStream,
    tokens: Vec<u32>,
    constraint: Option<Constraint<'a>>,
    checked: usize,
}

impl<'a> Generator<'a> {
    /// Checks `request` against a KV cache of `capacity` positions; the driver then runs the
    /// prompt at position 0 and passes its logits to `step`.
    pub fn new(request: &'a Request, capacity: usize) -> Result<Self, ModelError> {
        request.sampling.validate().map_err(ModelError::Invalid)?;
        if request.prompt.is_empty() {
            return Err(ModelError::Invalid("the prompt has no tokens".into()));
        }
        if request.prompt.len() >= capacity {
            return Err(ModelError::ContextFull {
                needed: request.prompt.len() + 1,
                capacity,
            });
        }
        Ok(Self {
            request,
            capacity,
            sampler: Sampler::new(request.sampling.clone()),
            seen: request.prompt.clone(),
            stream: TextStream {
                pending: Vec::new(),
                text: String::new(),
                emitted: 0,
            },
            tokens: Vec::new(),
            constraint: request.tools.as_ref().map(Constraint::new),
            checked: 0,
        })
    }

    /// Candidate tokens the tool-call constraint has checked so far (its cost).
    pub fn constraint_checks(&self) -> usize {
        self.checked
    }

    /// The prompt the driver runs first, at position 0.
    pub fn prompt(&self) -> &[u32] {
        &self.request.prompt
    }

    /// What each forward pass must hand `step`: every logit, or (greedy without a repetition
    /// penalty) only the argmax, which an engine can pick where the logits are.
    pub fn wants(&self) -> Want {
        if self.constraint.is_some() {
            return Want::Logits;
        }
        self.sampler.wants()
    }

    /// Picks the next token from the last forward's `output` (what `wants` asked for), streams
    /// any text it completes to `on_text`, and says whether to run it or stop.
    pub fn step(
        &mut self,
        output: &mut Output,
        token_bytes: &dyn Fn(u32) -> Vec<u8>,
        cancelled: bool,
        on_text: &mut dyn FnMut(&str),
    ) -> Next {
        let request = self.request;
        if cancelled {
            return Next::Done(StopReason::Cancelled);
        }
        if self.tokens.len() >= request.max_tokens {
            return Next::Done(StopReason::MaxTokens);
        }
        let token = match output {
            Output::Logits(logits) => {
                if let Some(constraint) = &self.constraint {
                    let is_stop = |t: u32| request.stop_tokens.contains(&t);
                    self.checked += constraint.mask(logits, token_bytes, &is_stop);
                }
                self.sampler.sample(logits, &self.seen)
            }
            Output::Argmax(token) => *token,
        };
        if request.stop_tokens.contains(&token) {
            return Next::Done(StopReason::StopToken);
        }
        self.tokens.push(token);
        self.seen.push(token);
        let bytes = token_bytes(token);
        if let Some(constraint) = &mut self.constraint {
            constraint.accept(&bytes);
        }
        self.stream.push(&bytes);
        if self.stream.cut_at_stop(&request.stop_strings) {
            return Next::Done(StopReason::StopString);
        }
        on_text(self.stream.ready(&request.stop_strings, false));
        if self.tokens.len() >= request.max_tokens {
            return Next::Done(StopReason::MaxTokens);
        }
        let position = self.seen.len() - 1;
        if position + 1 > self.capacity {
            return Next::Done(StopReason::ContextFull);
        }
        Next::Forward { token, position }
    }

    /// Streams the text held back for a possible stop string and returns the result.
    pub fn finish(
        mut self,
        stop: StopReason,
        on_text: &mut dyn FnMut(&str),
        prefill_seconds: f64,
        decode_seconds: f64,
    ) -> Generation {
        let tail = self
            .stream
            .ready(&self.request.stop_strings, true)
            .to_owned();
        if !tail.is_empty() {
            on_text(&tail);
        }
        Generation {
            tokens: self.tokens,
            text: self.stream.text,
            stop,
            prefill_seconds,
            decode_seconds,
        }
    }
}

/// Generates for `request`, calling `on_text` with each new piece of text.
pub fn generate(
    model: &mut dyn Forward,
    token_bytes: &dyn Fn(u32) -> Vec<u8>,
    request: &Request,
    cancel: &AtomicBool,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generation, ModelError> {
    let mut generator = Generator::new(request, model.capacity())?;
    let want = generator.wants();
    let started = now();
    let mut output = model.forward_for(want, &request.prompt, 0)?;
    let prefill_seconds = now() - started;
    let decode_started = now();
    let stop = loop {
        let cancelled = cancel.load(Ordering::Relaxed);
        match generator.step(&mut output, token_bytes, cancelled, on_text) {
            Next::Forward { token, position } => {
                output = model.forward_for(want, &[token], position)?;
            }
            Next::Done(reason) => break reason,
        }
    };
    Ok(generator.finish(stop, on_text, prefill_seconds, now() - decode_started))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in model over a tiny vocabulary: it always predicts `next[last token]`.
    struct Scripted {
        next: Vec<u32>,
        capacity: usize,
        calls: usize,
    }

    impl Forward for Scripted {
        fn forward(&mut self, tokens: &[u32], start: usize) -> Result<Vec<f32>, ModelError> {
            assert!(start + tokens.len() <= self.capacity, "cache overrun");
            self.calls += 1;
            let mut logits = vec![0.0; self.next.len()];
            logits[self.next[*tokens.last().unwrap() as usize] as usize] = 10.0;
            Ok(logits)
        }
        fn capacity(&self) -> usize {
            self.capacity
        }
    }

    const PIECES: [&[u8]; 5] = [b"a", b"b", b"\xc3", b"\xa9", b"<END>"];

    fn request(prompt: Vec<u32>, max_tokens: usize) -> Request {
        Request {
            prompt,
            max_tokens,
            sampling: SamplingParams::default(),
            stop_tokens: vec![],
            stop_strings: vec![],
            tools: None,
        }
    }

    fn run(model: &mut Scripted, req: &Request) -> (Generation, Vec<String>) {
        let mut pieces = Vec::new();
        let bytes = |t: u32| PIECES[t as usize].to_vec();
        let generation = generate(model, &bytes, req, &AtomicBool::new(false), &mut |p| {
            if !p.is_empty() {
                pieces.push(p.to_owned())
            }
        })
        .unwrap();
        (generation, pieces)
    }

    #[test]
    fn streams_whole_characters_and_stops_on_a_stop_token() {
        // a → é (two byte tokens) → b → <END>
        let mut model = Scripted {
            next: vec![2, 4, 3, 1, 4],
            capacity: 64,
            calls: 0,
        };
        let mut req = request(vec![0], 10);
        req.stop_tokens = vec![4];
        let (generation, pieces) = run(&mut model, &req);
        assert_eq!(generation.tokens, [2, 3, 1]);
        assert_eq!(generation.text, "éb");
        assert_eq!(generation.stop, StopReason::StopToken);
        assert_eq!(pieces, ["é", "b"], "no half character is ever shown");
    }

    #[test]
    fn stop_strings_are_cut_and_never_streamed() {
        let mut model = Scripted {
            next: vec![1, 4, 0, 0, 0],
            capacity: 64,
            calls: 0,
        };
        let mut req = request(vec![0], 10);
        req.stop_strings = vec!["b<END>".into()];
        let (generation, pieces) = run(&mut model, &req);
        assert_eq!(generation.stop, StopReason::StopString);
        assert_eq!(generation.text, "");
        assert!(pieces.is_empty(), "{pieces:?}");
    }

    #[test]
    fn budget_context_and_cancel_end_cleanly() {
        let mut model = Scripted {
            next: vec![1, 0, 0, 0, 0],
            capacity: 64,
            calls: 0,
        };
        let (generation, _) = run(&mut model, &request(vec![0], 5));
        assert_eq!(
            (generation.tokens.len(), generation.stop),
            (5, StopReason::MaxTokens)
        );
        assert_eq!(model.calls, 5, "one prefill and four decode steps");

        let mut small = Scripted {
            next: vec![1, 0, 0, 0, 0],
            capacity: 4,
            calls: 0,
        };
        let (generation, _) = run(&mut small, &request(vec![0, 1], 100));
        assert_eq!(generation.stop, StopReason::ContextFull);
        assert_eq!(generation.tokens.len(), 3);

        let long = request(vec![0; 4], 1);
        let error = generate(
            &mut small,
            &|_| vec![],
            &long,
            &AtomicBool::new(false),
            &mut |_| {},
        );
        assert!(matches!(error, Err(ModelError::ContextFull { .. })));

        let cancelled = AtomicBool::new(true);
        let generation = generate(
            &mut model,
            &|_| vec![],
            &request(vec![0], 5),
            &cancelled,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            (generation.tokens.len(), generation.stop),
            (0, StopReason::Cancelled)
        );
    }

    /// A model that, after token `t`, likes `first[t]` best and `second[t]` next.
    struct Preferring {
        first: Vec<u32>,
        second: Vec<u32>,
    }

    impl Forward for Preferring {
        fn forward(&mut self, tokens: &[u32], _start: usize) -> Result<Vec<f32>, ModelError> {
            let last = *tokens.last().unwrap() as usize;
            let mut logits = vec![0.0; self.first.len()];
            logits[self.second[last] as usize] = 5.0;
            logits[self.first[last] as usize] = 10.0;
            Ok(logits)
        }
        fn capacity(&self) -> usize {
            64
        }
    }

    #[test]
    fn a_tool_call_follows_the_schema_even_against_the_models_preference() {
        const VOCAB: [&str; 9] = [
            "<tool_call>",
            "{\"name\": \"",
            "git",
            "curl",
            "\", \"arguments\": {\"args\": [\"",
            "status",
            "\"]}}",
            "</tool_call>",
            "<END>",
        ];
        // After `{"name": "` the model prefers `curl`, which no declared tool is called.
        let mut model = Preferring {
            first: vec![1, 3, 4, 4, 5, 6, 7, 8, 0],
            second: vec![1, 2, 4, 4, 5, 6, 7, 8, 0],
        };
        let declarations = [
            serde_json::json!({"type": "function", "function": {"name": "git",
            "parameters": {"type": "object", "required": ["args"],
                "properties": {"args": {"type": "array", "items": {"type": "string"}}}}}}),
        ];
        let mut req = request(vec![8], 20);
        req.stop_tokens = vec![8];
        let bytes = |t: u32| VOCAB[t as usize].as_bytes().to_vec();
        let free = generate(
            &mut model,
            &bytes,
            &req,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap();
        assert!(free.text.contains("curl"), "unconstrained: {}", free.text);
        req.tools = Some(ToolGrammar::from_declarations(&declarations).unwrap());
        let constrained = generate(
            &mut model,
            &bytes,
            &req,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            constrained.text,
            "<tool_call>{\"name\": \"git\", \"arguments\": {\"args\": [\"status\"]}}</tool_call>"
        );
        assert_eq!(constrained.stop, StopReason::StopToken);
    }
}
