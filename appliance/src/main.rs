//! `airlock`: the appliance's command line.

use std::net::IpAddr;
use std::path::PathBuf;

mod cli;

use airlock_appliance::ServeOptions;
use airlock_appliance::audit::Rotation;
use airlock_appliance::audit::export::ExportFormat;
use airlock_appliance::bind::parse_bind_address;
use clap::{Parser, Subcommand};

/// Airlock: an air-gapped AI coding IDE served from loopback.
///
/// Start with `airlock serve --workspace DIR` and open the printed URL (it works once). Exit
/// codes: 0 success, 1 a check failed (tampered audit log, damaged model, model does not fit),
/// 2 bad usage or an error that stopped the command.
#[derive(Parser)]
#[command(name = "airlock", version = version_line(), after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the IDE on loopback for one workspace.
    Serve {
        /// Folder to open as the workspace.
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
        /// Port to listen on (0 picks a free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Loopback address to bind (127.0.0.1 or ::1); repeat for both. Anything else is refused.
        #[arg(long, value_parser = parse_bind)]
        bind: Vec<IpAddr>,
        /// Also write the session token to this file (mode 0600), for scripts.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Folder for the audit log (default: per workspace under $XDG_STATE_HOME/airlock/audit).
        #[arg(long)]
        audit_dir: Option<PathBuf>,
        /// Pin this policy file (kept outside the workspace) instead of the workspace's own.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Rotate the audit log when it grows past this many bytes.
        #[arg(long, default_value_t = 16 * 1024 * 1024)]
        audit_max_bytes: u64,
        /// Delete rotated audit segments older than this many days (default: keep all).
        #[arg(long)]
        audit_keep_days: Option<u64>,
        /// Model store (or plain folder of GGUF files) the in-browser engine may load from;
        /// default: the default store when it exists. Each load is audited.
        #[arg(long)]
        models: Option<PathBuf>,
    },
    /// Manage the model store: import, list, verify, remove, and "will it fit".
    Models {
        /// The store folder (default: $XDG_DATA_HOME/airlock/models).
        #[arg(long, global = true)]
        store: Option<PathBuf>,
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Ask a running appliance for its egress evidence (and optionally save the pack).
    Evidence {
        /// The appliance's address, e.g. http://127.0.0.1:4100 (a launch URL works too).
        #[arg(long)]
        url: String,
        /// File holding the session token (see `serve --token-file`).
        #[arg(long)]
        token_file: PathBuf,
        /// Also save the evidence pack (tar) here.
        #[arg(long)]
        pack: Option<PathBuf>,
    },
    /// Work with the tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain and the checkpoint; exit 1 and name the record if tampered.
    Verify {
        /// The audit folder (holding audit.jsonl and audit.checkpoint).
        #[arg(long, conflicts_with = "workspace")]
        dir: Option<PathBuf>,
        /// Or: the workspace whose default audit folder to check.
        #[arg(long)]
        workspace: Option<PathBuf>,
        /// A checkpoint kept elsewhere (default: the one in the audit folder).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Write the verified log as JSON lines or CEF (refuses a log that fails verification).
    Export {
        /// The audit folder (holding audit.jsonl and audit.checkpoint).
        #[arg(long, conflicts_with = "workspace")]
        dir: Option<PathBuf>,
        /// Or: the workspace whose default audit folder to export.
        #[arg(long)]
        workspace: Option<PathBuf>,
        /// `jsonl` or `cef`.
        #[arg(long, default_value = "jsonl")]
        format: ExportFormat,
        /// Write here (atomically) instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Add GGUF files: hard-linked when on the same filesystem, else copied; SHA-256 recorded.
    ///
    /// Example: airlock models import ~/Downloads/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
    Import {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Store one file under this name (a plain *.gguf name).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the models with family, parameters, formats, context and a size check.
    List,
    /// Re-hash models against the manifest; exit 1 if any is damaged.
    Verify {
        /// Only this model.
        name: Option<String>,
    },
    /// Remove a model's file and manifest entry.
    Remove {
        /// The model's name.
        name: String,
    },
    /// Will it fit: weights, KV cache, activations against a GPU's limits; exit 1 if not.
    ///
    /// Example: airlock models fit model.gguf --context 4096 --vram 24G
    Fit {
        /// A GGUF file, or the name of a model in the store.
        model: String,
        /// KV cache positions.
        #[arg(long, default_value_t = 1024)]
        context: u64,
        /// GPU memory (e.g. 8G); also sizes a team server in GPUs of this size.
        #[arg(long, value_parser = parse_size)]
        vram: Option<u64>,
        /// Largest storage buffer binding (WebGPU's default limit is 128M).
        #[arg(long, value_parser = parse_size, default_value = "128M")]
        binding: u64,
        /// The GPU lacks shader-f16 (the KV cache is then f32).
        #[arg(long)]
        no_f16: bool,
        /// Concurrent requests a team server should hold at the model's full context.
        #[arg(long, default_value_t = 1)]
        concurrent: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Shown after `airlock --help`.
const EXAMPLES: &str = "Examples:
  airlock serve --workspace ~/src/app                 serve one workspace, print the launch URL
  airlock serve --workspace . --policy /etc/airlock/policy.toml --token-file $XDG_RUNTIME_DIR/airlock/token
  airlock models import ~/Downloads/model.gguf        add a model to the store
  airlock models fit qwen.gguf --context 8192 --vram 24G
  airlock audit verify --workspace ~/src/app          check the audit chain (exit 1 if tampered)
  airlock evidence --url http://127.0.0.1:4100 --token-file $XDG_RUNTIME_DIR/airlock/token --pack evidence.tar";

/// `--version`: version, build and target.
fn version_line() -> &'static str {
    Box::leak(airlock_appliance::build_info::describe().into_boxed_str())
}

fn parse_size(text: &str) -> Result<u64, String> {
    airlock_inference::fit::parse_bytes(text)
}

fn parse_bind(text: &str) -> Result<IpAddr, String> {
    parse_bind_address(text).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Serve {
            workspace,
            port,
            bind,
            token_file,
            audit_dir,
            policy,
            audit_max_bytes,
            audit_keep_days,
            models,
        } => {
            cli::serve::serve(ServeOptions {
                workspace,
                port,
                bind,
                token_file,
                audit_dir,
                policy,
                unshare: None,
                audit_rotation: Some(Rotation {
                    max_bytes: audit_max_bytes,
                    keep_days: audit_keep_days,
                }),
                models: models.or_else(|| {
                    let store = airlock_appliance::models::default_store_dir();
                    store.join("manifest.json").is_file().then_some(store)
                }),
                chat_dir: None,
                connection_limits: Default::default(),
            })
            .await
        }
        Command::Models { store, command } => {
            let store = store.unwrap_or_else(airlock_appliance::models::default_store_dir);
            match command {
                ModelsCommand::Import { files, name } => {
                    cli::models::import(&store, &files, name.as_deref())
                }
                ModelsCommand::List => cli::models::list(&store),
                ModelsCommand::Verify { name } => cli::models::verify(&store, name.as_deref()),
                ModelsCommand::Remove { name } => cli::models::remove(&store, &name),
                ModelsCommand::Fit {
                    model,
                    context,
                    vram,
                    binding,
                    no_f16,
                    concurrent,
                    json,
                } => cli::models::fit_command(
                    &store,
                    &cli::models::FitRequest {
                        model,
                        context,
                        vram,
                        binding,
                        f16: !no_f16,
                        concurrent,
                        json,
                    },
                ),
            }
        }
        Command::Evidence {
            url,
            token_file,
            pack,
        } => cli::evidence::evidence(&url, &token_file, pack),
        Command::Audit { command } => match command {
            AuditCommand::Verify {
                dir,
                workspace,
                checkpoint,
            } => cli::audit::verify_audit(dir, workspace, checkpoint),
            AuditCommand::Export {
                dir,
                workspace,
                format,
                output,
            } => cli::audit::export_audit(dir, workspace, format, output),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("airlock: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
