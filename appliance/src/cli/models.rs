//! `airlock models import | list | verify | remove | fit`: the model store from the command
//! line. Exit codes: 0 success (fit: it fits), 1 a damaged model (verify) or a model that
//! does not fit (fit), 2 an error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airlock_appliance::audit::{AuditLog, Entry};
use airlock_appliance::models::manifest::Manifest;
use airlock_appliance::models::store::{self, model_info};
use airlock_inference::fit::{Limits, Verdict, bytes, fit, gpus_needed};
use airlock_protocol::models::ModelHealth;

/// `import FILE…`: each file hard-linked or copied into the store, hashed and described.
pub fn import(store_dir: &Path, files: &[PathBuf], name: Option<&str>) -> anyhow::Result<ExitCode> {
    if name.is_some() && files.len() != 1 {
        anyhow::bail!("--name renames one file; give exactly one");
    }
    for file in files {
        let imported = match store::import(store_dir, file, name) {
            Ok(imported) => imported,
            Err(e) => {
                let shown = file.display().to_string();
                record(store_dir, "model.import", &shown, &format!("error: {e:#}"))?;
                return Err(e);
            }
        };
        let entry = &imported.entry.record;
        let how = match (imported.already, imported.linked) {
            (true, _) => "already in the store",
            (false, true) => "hard-linked",
            (false, false) => "copied",
        };
        record(
            store_dir,
            "model.import",
            &entry.name,
            &format!("ok: {how}, sha256 {}", entry.sha256),
        )?;
        println!(
            "{}  {}  {} ({how}) sha256 {}",
            entry.name,
            bytes(entry.bytes),
            describe(&entry.info),
            entry.sha256
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(info: &airlock_inference::fit::ModelInfo) -> String {
    format!(
        "{}, {} params, {}, context {}{}{}",
        info.family,
        airlock_inference::fit::params(info.params),
        info.quant_types.join("+"),
        info.context_length,
        if info.chat_template { ", chat" } else { "" },
        info.fim
            .as_deref()
            .map(|f| format!(", FIM ({f})"))
            .unwrap_or_default()
    )
}

/// `list`: every model, with a size check of its file.
pub fn list(store_dir: &Path) -> anyhow::Result<ExitCode> {
    let Some(manifest) = Manifest::load(store_dir)? else {
        println!(
            "no models in {} (add some with `airlock models import FILE`)",
            store_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    for entry in &manifest.models {
        let health = match store::check(store_dir, entry, false) {
            ModelHealth::Ok => "ok".to_owned(),
            ModelHealth::Damaged { reason } => format!("DAMAGED: {reason}"),
        };
        println!(
            "{}  {}  {}  {}",
            entry.record.name,
            bytes(entry.record.bytes),
            describe(&entry.record.info),
            health
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `verify [NAME]`: re-hashes; exit 1 when any model is damaged.
pub fn verify(store_dir: &Path, name: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut damaged = false;
    for (name, health) in store::verify(store_dir, name)? {
        let outcome = match health {
            ModelHealth::Ok => "ok".to_owned(),
            ModelHealth::Damaged { reason } => {
                damaged = true;
                format!("DAMAGED: {reason}")
            }
        };
        record(store_dir, "model.verify", &name, &outcome)?;
        println!("{name}: {outcome}");
    }
    Ok(if damaged {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `remove NAME`.
pub fn remove(store_dir: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let removed = store::remove(store_dir, name);
    let outcome = match &removed {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("error: {e:#}"),
    };
    record(store_dir, "model.remove", name, &outcome)?;
    removed?;
    println!("removed {name}");
    Ok(ExitCode::SUCCESS)
}

/// The store's own audit folder: changes made from the command line are recorded in a
/// tamper-evident chain beside the manifest (`airlock audit verify --dir STORE/audit`).
pub fn audit_dir(store_dir: &Path) -> PathBuf {
    store_dir.join("audit")
}

/// Appends one record to the store's audit chain; a log that cannot be written stops the
/// command (exit 2), like the appliance refuses unaudited changes.
fn record(store_dir: &Path, action: &str, target: &str, outcome: &str) -> anyhow::Result<()> {
    if !store_dir.is_dir() {
        return Ok(());
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let log = AuditLog::open(&audit_dir(store_dir)).map_err(|e| {
        anyhow::anyhow!(
            "cannot open the store's audit log in {}: {e}",
            audit_dir(store_dir).display()
        )
    })?;
    log.append(Entry {
        actor: format!("cli:{user}"),
        action: action.into(),
        target: target.into(),
        outcome: outcome.into(),
    })
    .map_err(|e| anyhow::anyhow!("cannot write the store's audit log: {e}"))?;
    Ok(())
}

/// What `fit` is asked.
pub struct FitRequest {
    /// A GGUF file, or a model name in the store.
    pub model: String,
    /// KV cache positions.
    pub context: u64,
    /// The GPU's memory, when known.
    pub vram: Option<u64>,
    /// The largest storage buffer binding.
    pub binding: u64,
    /// Whether the GPU has `shader-f16`.
    pub f16: bool,
    /// Concurrent requests a team server should hold.
    pub concurrent: u64,
    /// Print JSON instead of the table.
    pub json: bool,
}

/// `fit MODEL`: the table (or JSON); exit 1 when it does not fit.
pub fn fit_command(store_dir: &Path, request: &FitRequest) -> anyhow::Result<ExitCode> {
    let path = if Path::new(&request.model).is_file() {
        PathBuf::from(&request.model)
    } else {
        let candidate = store_dir.join(&request.model);
        if !airlock_appliance::models::valid_name(&request.model) || !candidate.is_file() {
            anyhow::bail!(
                "{} is neither a file nor a model in {}",
                request.model,
                store_dir.display()
            );
        }
        candidate
    };
    let info = model_info(&path)?;
    let limits = Limits {
        max_binding: request.binding,
        max_buffer: request.binding.max(request.binding * 2),
        shader_f16: request.f16,
        memory: request.vram,
    };
    let answer = fit(&info, request.context, &limits);
    let gpus = request
        .vram
        .and_then(|vram| gpus_needed(&info, info.context_length, request.concurrent, vram));
    if request.json {
        println!(
            "{}",
            serde_json::json!({ "model": info, "fit": answer, "team_server_gpus": gpus })
        );
    } else {
        let kv = if answer.kv_bytes == 2 { "f16" } else { "f32" };
        println!("model         {} ({})", path.display(), describe(&info));
        println!("context       {} positions, KV cache {kv}", answer.context);
        println!("weights       {}", bytes(answer.weights));
        println!("KV cache      {}", bytes(answer.kv_cache));
        println!("activations   {}", bytes(answer.activations));
        println!("total         {}", bytes(answer.total));
        println!(
            "largest       {} tensor, {} buffer binding",
            bytes(info.largest_tensor_bytes),
            bytes(request.binding)
        );
        let verdict = match &answer.verdict {
            Verdict::Fits => "fits".to_owned(),
            Verdict::FitsSharded => "fits (large matrices split into row shards)".to_owned(),
            Verdict::TooLarge { reason } => format!("does not fit: {reason}"),
        };
        println!("verdict       {verdict}");
        if let Some(vram) = request.vram {
            match gpus {
                Some(n) => println!(
                    "team server   {n} GPU{} of {} (vLLM, f16 KV cache, {} request{} at {} positions)",
                    if n == 1 { "" } else { "s" },
                    bytes(vram),
                    request.concurrent,
                    if request.concurrent == 1 { "" } else { "s" },
                    info.context_length
                ),
                None => println!(
                    "team server   more GPUs of {} than is sensible",
                    bytes(vram)
                ),
            }
        }
    }
    Ok(if matches!(answer.verdict, Verdict::TooLarge { .. }) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
