//! `GET /api/models`: the model store's entries and their health.

use airlock_inference::fit::ModelInfo;
use serde::{Deserialize, Serialize};

/// One model file of the store, as its manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// File name inside the store (the name to load it by).
    pub name: String,
    /// SHA-256 of the file, lower-case hex: what the page checks the streamed bytes against
    /// and keys its cache by.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Family, parameters, formats, context and the shapes the fit calculator needs.
    pub info: ModelInfo,
}

/// Whether a model file still is what the manifest says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModelHealth {
    /// Size (and, after `verify` or a changed file time, the hash) match.
    Ok,
    /// Missing, changed or unreadable: never served.
    Damaged {
        /// Plain words.
        reason: String,
    },
}

/// A model and its health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// The manifest's record.
    #[serde(flatten)]
    pub record: ModelRecord,
    /// Its health now.
    pub health: ModelHealth,
}

/// The answer of `GET /api/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// Every model, by name.
    pub models: Vec<ModelSummary>,
    /// Model bytes this appliance has sent since it started (a cached load adds none).
    pub served_bytes: u64,
}
