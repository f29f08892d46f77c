//! One interface for "generate" — chat and inline completion alike. Today it runs on the
//! in-browser engine (the model kept loaded by `generation`); a team server plugs in here.

use std::cell::Cell;
use std::rc::Rc;

use airlock_inference::chat::Message;
use airlock_inference::constrain::ToolGrammar;
use airlock_inference::generate::{Generator, Request};
use airlock_inference::loaded::stop_tokens;
use airlock_inference::prompt::{display, plain};
use airlock_inference::sampling::SamplingParams;
use airlock_inference::tool_calls::{OPEN, ToolCall};

use crate::api::js_error_text;
use crate::engine::LoadOptions;
use crate::generation::{drive, give_back, stop_name, take};

/// What to generate from.
#[derive(Debug, Clone)]
pub enum Prompt {
    /// Chat messages, rendered with the model's template.
    Chat(Vec<Message>),
    /// Fill in the middle between `prefix` and `suffix` (prefix-only where the model has no
    /// FIM tokens).
    Complete {
        /// Text before the cursor.
        prefix: String,
        /// Text after it.
        suffix: String,
    },
    /// An agent turn: the conversation so far (calls and results included) and the tools'
    /// declarations, which the model's template (or the team server) presents to it.
    Agent {
        /// The history.
        messages: Vec<Message>,
        /// OpenAI-style function declarations.
        tools: Vec<serde_json::Value>,
        /// The answer must be a call: the engine starts it inside `<tool_call>` under the
        /// schema constraint; a team server gets the call's JSON schema as `response_format`.
        force_call: bool,
    },
}

/// How to generate.
#[derive(Debug, Clone)]
pub struct Params {
    /// Most tokens to write.
    pub max_tokens: usize,
    /// 0 is greedy.
    pub temperature: f32,
    /// Strings that end the answer.
    pub stop: Vec<String>,
}

/// What a generation produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The text written.
    pub text: String,
    /// The prompt as the model saw it (markers and all), for "show prompt".
    pub prompt_text: String,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Of those, how many the in-browser model's KV cache already held (not run again).
    pub reused_tokens: usize,
    /// Tokens written.
    pub output_tokens: usize,
    /// The model's context size.
    pub context: usize,
    /// `max_tokens`, `stop_token`, `stop_string`, `context_full`, `cancelled`.
    pub stop: &'static str,
    /// Milliseconds from the call to the first text (the model load included).
    pub first_text_ms: f64,
    /// Milliseconds of the whole call.
    pub total_ms: f64,
    /// Milliseconds spent writing tokens after the prompt.
    pub decode_ms: f64,
    /// Tool calls a team server returned apart from the text (OpenAI's `tool_calls`), or why
    /// one could not be read.
    pub tool_calls: Vec<Result<ToolCall, String>>,
}

/// Runs one generation on `model`; `on_text` receives each new piece; setting `cancel`
/// stops decoding at the next token.
pub async fn generate(
    model: &str,
    prompt: Prompt,
    params: Params,
    cancel: Rc<Cell<bool>>,
    on_text: &mut dyn FnMut(&str),
) -> Result<Outcome, String> {
    if let Some(id) = super::team::id(model) {
        return super::team::generate(id, prompt, params, cancel, on_text).await;
    }
    let started = js_sys::Date::now();
    let (mut loaded, _) = take(model, &LoadOptions::default())
        .await
        .map_err(|e| js_error_text(&e))?;
    let result: Result<Outcome, String> = async {
        let tokenizer = &loaded.tokenizer;
        let (text, mut stops) = match &prompt {
            Prompt::Chat(messages) => (
                loaded
                    .chat
                    .render(messages, true)
                    .map_err(|e| e.to_string())?,
                stop_tokens(&loaded.chat, tokenizer),
            ),
            Prompt::Agent {
                messages,
                tools,
                force_call,
            } => {
                let mut text = loaded
                    .chat
                    .render_with_tools(messages, tools, true)
                    .map_err(|e| e.to_string())?;
                if *force_call {
                    text.push_str(OPEN);
                }
                (text, stop_tokens(&loaded.chat, tokenizer))
            }
            Prompt::Complete { prefix, suffix } => match loaded.fim {
                Some(format) => (
                    format.prompt(prefix, suffix),
                    format
                        .stop_markers()
                        .iter()
                        .filter_map(|m| tokenizer.token_id(m))
                        .collect(),
                ),
                None => (plain(prefix), Vec::new()),
            },
        };
        stops.extend(tokenizer.eos);
        let request = Request {
            prompt: tokenizer.prompt_ids(&text).map_err(|e| e.to_string())?,
            max_tokens: params.max_tokens,
            sampling: SamplingParams {
                temperature: params.temperature,
                ..SamplingParams::default()
            },
            stop_tokens: stops,
            stop_strings: params.stop.clone(),
            tools: match &prompt {
                Prompt::Agent {
                    tools, force_call, ..
                } => Some(ToolGrammar {
                    forced: *force_call,
                    ..ToolGrammar::from_declarations(tools)
                        .map_err(|e| format!("the tools cannot be constrained: {e}"))?
                }),
                _ => None,
            },
        };
        let context = loaded.runner.capacity();
        let mut generator = Generator::new(&request, context).map_err(|e| e.to_string())?;
        let mut first_text_ms = 0.0;
        let mut emit = |piece: &str| {
            if !piece.is_empty() {
                if first_text_ms == 0.0 {
                    first_text_ms = js_sys::Date::now() - started;
                }
                on_text(piece);
            }
        };
        let (stop, timing) = drive(
            &mut loaded.runner,
            &mut loaded.held,
            &loaded.tokenizer,
            &mut generator,
            || cancel.get(),
            &mut emit,
        )
        .await
        .map_err(|e| js_error_text(&e))?;
        let generation = generator.finish(stop, &mut emit, 0.0, 0.0);
        let forced = matches!(
            prompt,
            Prompt::Agent {
                force_call: true,
                ..
            }
        );
        Ok(Outcome {
            text: if forced {
                format!("{OPEN}{}", generation.text)
            } else {
                generation.text
            },
            prompt_text: display(&text),
            prompt_tokens: request.prompt.len(),
            reused_tokens: timing.reused,
            output_tokens: generation.tokens.len(),
            context,
            stop: stop_name(generation.stop),
            first_text_ms,
            total_ms: js_sys::Date::now() - started,
            decode_ms: timing.decode_ms,
            tool_calls: Vec::new(),
        })
    }
    .await;
    give_back(model, loaded);
    // A lost GPU device takes the model's buffers with it: unload it rather than keep a
    // model that can only fail (the Models panel then shows it as not loaded).
    if let Err(e) = &result
        && crate::model::errors::classify(e.as_str()) == crate::model::errors::Failure::DeviceLost
    {
        crate::generation::unload(model);
    }
    result
}
