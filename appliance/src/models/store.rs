//! The store's operations: open (with start-up checks), import, verify, remove, and what the
//! API serves. Health lives beside the manifest: the manifest is what was imported, health is
//! what the files are now.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use airlock_inference::file_image::FileImage;
use airlock_inference::fit::ModelInfo;
use airlock_inference::gguf::GgufFile;
use airlock_protocol::models::{ModelHealth, ModelList, ModelRecord, ModelSummary};
use anyhow::{Context, bail};

use super::hash::{copy_with_sha256, file_sha256};
use super::manifest::{Entry, Manifest};
use super::valid_name;

/// A model store opened for serving.
#[derive(Debug)]
pub struct ModelStore {
    dir: PathBuf,
    manifest: Manifest,
    health: Mutex<HashMap<String, ModelHealth>>,
    served: AtomicU64,
}

/// Why a model is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unservable {
    /// Not in the store.
    Unknown,
    /// In the store but damaged.
    Damaged(String),
}

/// The outcome of importing one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// Its manifest entry.
    pub entry: Entry,
    /// Whether it was hard-linked (same filesystem) rather than copied.
    pub linked: bool,
    /// Whether the same file (same name and hash) was already there.
    pub already: bool,
}

fn modified_secs(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// The model facts of the GGUF file at `path` (its header only is read).
pub fn model_info(path: &Path) -> anyhow::Result<ModelInfo> {
    let image = FileImage::map(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = GgufFile::parse(image.bytes())
        .map_err(|e| anyhow::anyhow!("{} is not a usable GGUF file: {e}", path.display()))?;
    ModelInfo::from_header(&file)
        .map_err(|e| anyhow::anyhow!("{} is not a model this engine runs: {e}", path.display()))
}

/// Hashes and describes `path` as an entry named `name`.
fn describe(path: &Path, name: &str, sha256: String) -> anyhow::Result<Entry> {
    let meta = std::fs::metadata(path)?;
    Ok(Entry {
        record: ModelRecord {
            name: name.to_owned(),
            sha256,
            bytes: meta.len(),
            info: model_info(path)?,
        },
        modified: modified_secs(&meta),
    })
}

/// What the file of `entry` in `dir` is now, compared with the manifest: size and time
/// always, the hash when the time changed (or when `rehash` asks).
pub fn check(dir: &Path, entry: &Entry, rehash: bool) -> ModelHealth {
    let path = dir.join(&entry.record.name);
    let damaged = |reason: String| ModelHealth::Damaged { reason };
    let meta = match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return damaged("it is not a regular file".into()),
        Err(e) => return damaged(format!("the file cannot be read: {e}")),
    };
    if meta.len() != entry.record.bytes {
        return damaged(format!(
            "its size is {} bytes, the manifest says {}",
            meta.len(),
            entry.record.bytes
        ));
    }
    if rehash || modified_secs(&meta) != entry.modified {
        match file_sha256(&path) {
            Ok(hash) if hash == entry.record.sha256 => {}
            Ok(_) => return damaged("its SHA-256 no longer matches the manifest".into()),
            Err(e) => return damaged(format!("the file cannot be read: {e}")),
        }
    }
    ModelHealth::Ok
}

impl ModelStore {
    /// Opens `dir` for serving: its manifest, or — for a plain folder of `*.gguf` files — an
    /// in-memory one made by hashing each file once. Every entry is checked.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let manifest = match Manifest::load(dir)? {
            Some(manifest) => manifest,
            None => scan(dir)?,
        };
        let health = manifest
            .models
            .iter()
            .map(|e| (e.record.name.clone(), check(dir, e, false)))
            .collect();
        Ok(Self {
            dir: dir.to_owned(),
            manifest,
            health: Mutex::new(health),
            served: AtomicU64::new(0),
        })
    }

    /// Every model with its health, and the bytes served so far.
    pub fn list(&self) -> ModelList {
        let health = self.health.lock().expect("health lock");
        ModelList {
            models: self
                .manifest
                .models
                .iter()
                .map(|e| ModelSummary {
                    record: e.record.clone(),
                    health: health
                        .get(&e.record.name)
                        .cloned()
                        .unwrap_or(ModelHealth::Ok),
                })
                .collect(),
            served_bytes: self.served.load(Ordering::Relaxed),
        }
    }

    /// The path and record of a model that may be served.
    pub fn servable(&self, name: &str) -> Result<(PathBuf, ModelRecord), Unservable> {
        let entry = self.manifest.get(name).ok_or(Unservable::Unknown)?;
        if let Some(ModelHealth::Damaged { reason }) =
            self.health.lock().expect("health lock").get(name)
        {
            return Err(Unservable::Damaged(reason.clone()));
        }
        Ok((self.dir.join(name), entry.record.clone()))
    }

    /// Marks a model damaged (its bytes did not hash to the manifest's SHA-256 while served).
    pub fn mark_damaged(&self, name: &str, reason: &str) {
        self.health.lock().expect("health lock").insert(
            name.to_owned(),
            ModelHealth::Damaged {
                reason: reason.to_owned(),
            },
        );
    }

    /// Counts bytes sent to the page.
    pub fn add_served(&self, bytes: u64) {
        self.served.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// An in-memory manifest for a plain folder: every valid `*.gguf` name, hashed. Files that
/// are not usable models are skipped with a warning.
fn scan(dir: &Path) -> anyhow::Result<Manifest> {
    let mut models = Vec::new();
    let read = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the models folder {}", dir.display()))?;
    for item in read {
        let item = item?;
        let name = item.file_name().to_string_lossy().into_owned();
        if !valid_name(&name) || !std::fs::metadata(item.path()).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let described = file_sha256(&item.path())
            .map_err(anyhow::Error::from)
            .and_then(|hash| describe(&item.path(), &name, hash));
        match described {
            Ok(entry) => models.push(entry),
            Err(e) => tracing::warn!("models: skipping {name}: {e:#}"),
        }
    }
    models.sort_by(|a, b| a.record.name.cmp(&b.record.name));
    Ok(Manifest { version: 1, models })
}

/// Imports `file` into the store at `dir` (created if needed): hard-linked when on the same
/// filesystem, else copied; hashed; described; the manifest updated atomically. Nothing is
/// left behind when any step fails.
pub fn import(dir: &Path, file: &Path, name: Option<&str>) -> anyhow::Result<Imported> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the store {}", dir.display()))?;
    let name = match name {
        Some(name) => name.to_owned(),
        None => file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if !valid_name(&name) {
        bail!(
            "{name:?} is not a usable model name: plain letters, digits, '.', '_' and '-', ending in .gguf (use --name)"
        );
    }
    if !std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .is_file()
    {
        bail!("{} is not a regular file", file.display());
    }
    // Refuse files the engine cannot run before anything is copied.
    model_info(file)?;
    let mut manifest = Manifest::load(dir)?.unwrap_or(Manifest {
        version: 1,
        models: Vec::new(),
    });
    let temp = dir.join(format!(".{name}.importing"));
    let _ = std::fs::remove_file(&temp);
    let result = (|| {
        let linked = std::fs::hard_link(file, &temp).is_ok();
        let hash = if linked {
            file_sha256(&temp)?
        } else {
            copy_with_sha256(file, &temp)?
        };
        if let Some(existing) = manifest.get(&name) {
            if existing.record.sha256 == hash && dir.join(&name).exists() {
                std::fs::remove_file(&temp)?;
                return Ok(Imported {
                    entry: existing.clone(),
                    linked,
                    already: true,
                });
            }
            bail!(
                "the store already has a different model named {name} (remove it first, or import with --name)"
            );
        }
        if dir.join(&name).exists() {
            bail!(
                "{} exists but is not in the manifest; move it away first",
                dir.join(&name).display()
            );
        }
        let entry = describe(&temp, &name, hash)?;
        std::fs::rename(&temp, dir.join(&name))?;
        manifest.models.push(entry.clone());
        manifest
            .models
            .sort_by(|a, b| a.record.name.cmp(&b.record.name));
        if let Err(e) = manifest.save(dir) {
            let _ = std::fs::remove_file(dir.join(&name));
            return Err(e);
        }
        Ok(Imported {
            entry,
            linked,
            already: false,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Re-hashes every model of the store (or only `only`), returning each name and health;
/// entries that verify get their file time recorded again.
pub fn verify(dir: &Path, only: Option<&str>) -> anyhow::Result<Vec<(String, ModelHealth)>> {
    let mut manifest = Manifest::load(dir)?
        .ok_or_else(|| anyhow::anyhow!("{} has no model manifest", dir.display()))?;
    if let Some(name) = only
        && manifest.get(name).is_none()
    {
        bail!("the store has no model named {name}");
    }
    let mut results = Vec::new();
    let mut changed = false;
    for entry in &mut manifest.models {
        if only.is_some_and(|n| n != entry.record.name) {
            continue;
        }
        let health = check(dir, entry, true);
        if health == ModelHealth::Ok
            && let Ok(meta) = std::fs::metadata(dir.join(&entry.record.name))
            && modified_secs(&meta) != entry.modified
        {
            entry.modified = modified_secs(&meta);
            changed = true;
        }
        results.push((entry.record.name.clone(), health));
    }
    if changed {
        manifest.save(dir)?;
    }
    Ok(results)
}

/// Removes a model's file and manifest entry.
pub fn remove(dir: &Path, name: &str) -> anyhow::Result<()> {
    let mut manifest = Manifest::load(dir)?
        .ok_or_else(|| anyhow::anyhow!("{} has no model manifest", dir.display()))?;
    let before = manifest.models.len();
    manifest.models.retain(|e| e.record.name != name);
    if manifest.models.len() == before {
        bail!("the store has no model named {name}");
    }
    manifest.save(dir)?;
    match std::fs::remove_file(dir.join(name)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}
