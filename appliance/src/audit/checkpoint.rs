//! The checkpoint — the newest record's sequence number and hash — sealed with an HMAC key
//! kept outside the audit folder (`<folder>.key`, 0600, hidden from sandboxed commands).
//! Whoever rewrites the log's history can recompute every hash, but cannot write a
//! checkpoint that verifies without the key.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::CHECKPOINT_FILE;

/// The last record's sequence number and hash, kept in a separate file so a truncated log
/// tail can be detected (and exported for safekeeping).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Sequence number of the newest record.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// HMAC-SHA256 of the two under the audit key (absent in reports and older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

/// The secret that seals checkpoints.
pub struct AuditKey([u8; 32]);

impl AuditKey {
    /// Where the key of audit folder `dir` lives: beside it, not in it.
    pub fn path_for(dir: &Path) -> PathBuf {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "audit".into());
        dir.with_file_name(format!("{name}.key"))
    }

    /// The key of `dir`, created (0600) on first use.
    pub fn load_or_create(dir: &Path) -> io::Result<Self> {
        if let Some(key) = Self::load(dir)? {
            return Ok(key);
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(io::Error::other)?;
        let path = Self::path_for(dir);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(hex::encode(bytes).as_bytes())?;
        file.sync_all()?;
        Ok(Self(bytes))
    }

    /// The key of `dir`, if it has one.
    pub fn load(dir: &Path) -> io::Result<Option<Self>> {
        Self::read(&Self::path_for(dir))
    }

    /// Reads a key file.
    pub fn read(path: &Path) -> io::Result<Option<Self>> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let bytes = hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not an audit key", path.display()),
                )
            })?;
        Ok(Some(Self(bytes)))
    }

    fn mac(&self, seq: u64, hash: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(format!("airlock-audit-checkpoint:{seq}:{hash}").as_bytes());
        mac
    }

    /// `seq` and `hash` with their seal.
    pub fn seal(&self, seq: u64, hash: &str) -> Checkpoint {
        Checkpoint {
            seq,
            hash: hash.to_owned(),
            seal: Some(hex::encode(self.mac(seq, hash).finalize().into_bytes())),
        }
    }

    /// Whether `checkpoint` carries this key's seal (compared in constant time).
    pub fn sealed(&self, checkpoint: &Checkpoint) -> bool {
        let Some(seal) = checkpoint.seal.as_deref().and_then(|s| hex::decode(s).ok()) else {
            return false;
        };
        self.mac(checkpoint.seq, &checkpoint.hash)
            .verify_slice(&seal)
            .is_ok()
    }
}

/// Replaces the checkpoint file atomically (0600).
pub fn write_checkpoint(dir: &Path, checkpoint: &Checkpoint) -> io::Result<()> {
    let temp = dir.join(format!("{CHECKPOINT_FILE}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(&serde_json::to_vec(checkpoint).map_err(io::Error::other)?)?;
    file.sync_data()?;
    fs::rename(&temp, dir.join(CHECKPOINT_FILE))
}

/// Reads a checkpoint file.
pub fn read_checkpoint(path: &Path) -> io::Result<Checkpoint> {
    serde_json::from_slice(&fs::read(path)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
