//! `airlock-generate`: runs a model from the command line, streaming the continuation and
//! printing prefill and decode speed, so engine changes can be tried without the IDE.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use airlock_inference::chat::Message;
use airlock_inference::fim::FimFormat;
use airlock_inference::generate::{Request, generate};
use airlock_inference::gpu::GpuOptions;
use airlock_inference::gpu::kernels::KvPrecision;
use airlock_inference::loaded::{EngineKind, LoadedModel};
use airlock_inference::sampling::SamplingParams;

const USAGE: &str = "usage: airlock-generate --model FILE.gguf --prompt TEXT [options]
  --max-tokens N        tokens to generate (default 128)
  --temperature T       0 = greedy (default 0)
  --top-k K             keep the K most likely tokens (default 0 = all)
  --top-p P             nucleus sampling (default 1.0)
  --repeat-penalty R    repetition penalty (default 1.0 = off)
  --seed S              RNG seed (default 0)
  --chat                wrap the prompt in the model's chat template
  --fim-suffix TEXT     fill in the middle: the prompt is the prefix, TEXT the suffix
  --context N           KV cache positions (default 4096)
  --engine cpu|cpu-reference|gpu
                        where the forward pass runs (default gpu; cpu = int8 products,
                        cpu-reference = the f32 oracle)
  --kv-cache f16|f32    GPU KV cache precision (default f16 where the GPU has shader-f16)
  --show-tokens         print the generated token ids to stderr";

struct Options {
    model: String,
    prompt: String,
    max_tokens: usize,
    sampling: SamplingParams,
    chat: bool,
    fim_suffix: Option<String>,
    context: usize,
    show_tokens: bool,
    engine: EngineKind,
    kv_cache: Option<KvPrecision>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        model: String::new(),
        prompt: String::new(),
        max_tokens: 128,
        sampling: SamplingParams::default(),
        chat: false,
        fim_suffix: None,
        context: 4096,
        show_tokens: false,
        engine: EngineKind::Gpu,
        kv_cache: None,
    };
    let mut model = None;
    let mut prompt = None;
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        let mut value = || {
            i += 1;
            args.get(i)
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        fn number<T: std::str::FromStr>(flag: &str, text: String) -> Result<T, String> {
            text.parse()
                .map_err(|_| format!("{flag}: {text:?} is not a valid number"))
        }
        match flag {
            "--model" => model = Some(value()?),
            "--prompt" => prompt = Some(value()?),
            "--max-tokens" => options.max_tokens = number(flag, value()?)?,
            "--temperature" => options.sampling.temperature = number(flag, value()?)?,
            "--top-k" => options.sampling.top_k = number(flag, value()?)?,
            "--top-p" => options.sampling.top_p = number(flag, value()?)?,
            "--repeat-penalty" => options.sampling.repetition_penalty = number(flag, value()?)?,
            "--seed" => options.sampling.seed = number(flag, value()?)?,
            "--context" => options.context = number(flag, value()?)?,
            "--fim-suffix" => options.fim_suffix = Some(value()?),
            "--engine" => {
                options.engine = match value()?.as_str() {
                    "cpu" => EngineKind::Cpu,
                    "cpu-reference" => EngineKind::CpuReference,
                    "gpu" => EngineKind::Gpu,
                    other => {
                        return Err(format!(
                            "--engine: {other:?} is not cpu, cpu-reference or gpu"
                        ));
                    }
                }
            }
            "--kv-cache" => {
                options.kv_cache = match value()?.as_str() {
                    "f16" => Some(KvPrecision::F16),
                    "f32" => Some(KvPrecision::F32),
                    other => return Err(format!("--kv-cache: {other:?} is not f16 or f32")),
                }
            }
            "--chat" => options.chat = true,
            "--show-tokens" => options.show_tokens = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
        i += 1;
    }
    options.model = model.ok_or_else(|| format!("--model is required\n{USAGE}"))?;
    options.prompt = prompt.ok_or_else(|| format!("--prompt is required\n{USAGE}"))?;
    options.sampling.validate()?;
    Ok(options)
}

fn run(options: &Options) -> Result<(), String> {
    let loaded =
        LoadedModel::open(std::path::Path::new(&options.model)).map_err(|e| e.to_string())?;
    let mut engine = loaded
        .engine_with(
            options.engine,
            options.context,
            GpuOptions {
                kv_cache: options.kv_cache,
                ..GpuOptions::default()
            },
        )
        .map_err(|e| e.to_string())?;
    let tokenizer = &loaded.tokenizer;
    let prompt = if let Some(suffix) = &options.fim_suffix {
        let format =
            FimFormat::detect(tokenizer).ok_or("this model has no fill-in-the-middle tokens")?;
        tokenizer.prompt_ids(&format.prompt(&options.prompt, suffix))
    } else if options.chat {
        let text = loaded
            .chat
            .render(&[Message::new("user", &options.prompt)], true)
            .map_err(|e| e.to_string())?;
        tokenizer.prompt_ids(&text)
    } else {
        let mut ids: Vec<u32> = tokenizer
            .bos
            .filter(|_| tokenizer.add_bos)
            .into_iter()
            .collect();
        tokenizer.encode_with_special(&options.prompt).map(|more| {
            ids.extend(more);
            ids
        })
    }
    .map_err(|e| e.to_string())?;
    let request = Request {
        prompt,
        max_tokens: options.max_tokens,
        sampling: options.sampling.clone(),
        stop_tokens: loaded.stop_tokens(),
        stop_strings: Vec::new(),
        tools: None,
    };
    let tokenizer = loaded.tokenizer.clone();
    let bytes = |id: u32| tokenizer.token_bytes(id);
    let mut stdout = std::io::stdout();
    let generation = generate(
        engine.as_mut(),
        &bytes,
        &request,
        &AtomicBool::new(false),
        &mut |piece| {
            let _ = stdout.write_all(piece.as_bytes());
            let _ = stdout.flush();
        },
    )
    .map_err(|e| e.to_string())?;
    println!();
    if options.show_tokens {
        eprintln!("tokens: {:?}", generation.tokens);
    }
    eprintln!(
        "prompt {} tokens, prefill {:.1} tok/s; generated {} tokens, decode {:.1} tok/s; stop: {:?}",
        request.prompt.len(),
        generation.prefill_rate(request.prompt.len()),
        generation.tokens.len(),
        generation.decode_rate(),
        generation.stop
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse(&args).and_then(|options| run(&options));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("airlock-generate: {message}");
            ExitCode::FAILURE
        }
    }
}
