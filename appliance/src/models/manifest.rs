//! `manifest.json`: one record per model file, written atomically (temp file, fsync, rename).

use std::path::Path;

use airlock_protocol::models::ModelRecord;
use serde::{Deserialize, Serialize};

/// The manifest's file name inside the store.
pub const FILE: &str = "manifest.json";

/// One stored model: the shared record plus what start-up checks compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Name, hash, size and model facts.
    #[serde(flatten)]
    pub record: ModelRecord,
    /// The file's modification time (seconds) when it was last hashed.
    pub modified: u64,
}

/// The whole manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (1).
    pub version: u32,
    /// Entries, by name.
    pub models: Vec<Entry>,
}

impl Manifest {
    /// Reads `dir/manifest.json`; `Ok(None)` when there is none.
    pub fn load(dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        };
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is damaged: {e}", path.display()))?;
        if manifest.version != 1 {
            anyhow::bail!(
                "{} has version {}, this airlock reads version 1",
                path.display(),
                manifest.version
            );
        }
        Ok(Some(manifest))
    }

    /// Writes `dir/manifest.json` atomically.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        let temp = dir.join(format!(".{FILE}.tmp"));
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        std::fs::rename(&temp, dir.join(FILE))?;
        if let Ok(folder) = std::fs::File::open(dir) {
            let _ = folder.sync_all();
        }
        Ok(())
    }

    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.models.iter().find(|e| e.record.name == name)
    }
}
