//! Appending to the audit log: one writer, each record fsynced, then the checkpoint file
//! replaced atomically. A failed append marks the log unhealthy so mutating actions stop.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::clock::now_rfc3339;
use super::record::{AuditRecord, GENESIS_HASH};
use super::{CHECKPOINT_FILE, LOG_FILE};

/// What an action contributes to a record; the log adds sequence, time and hashes.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Who acted.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// To what.
    pub target: String,
    /// How it ended.
    pub outcome: String,
}

/// The last record's sequence number and hash, kept in a separate file so a truncated log
/// tail can be detected (and exported for safekeeping).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Sequence number of the newest record.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

struct Tail {
    file: File,
    seq: u64,
    hash: String,
}

/// An open audit log.
pub struct AuditLog {
    dir: PathBuf,
    tail: Mutex<Tail>,
    healthy: AtomicBool,
}

impl AuditLog {
    /// Opens (or creates) the log in `dir`, continuing the chain from its last record.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let (seq, hash) = match File::open(&path) {
            Ok(file) => last_link(file, &path)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => (0, GENESIS_HASH.to_owned()),
            Err(e) => return Err(e),
        };
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            dir: dir.to_owned(),
            tail: Mutex::new(Tail { file, seq, hash }),
            healthy: AtomicBool::new(true),
        })
    }

    /// The folder holding the log and its checkpoint.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// False once an append has failed: mutating actions must then be refused.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// The newest record's sequence number and hash.
    pub fn head(&self) -> Checkpoint {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        Checkpoint {
            seq: tail.seq,
            hash: tail.hash.clone(),
        }
    }

    /// Appends one record durably (write + fsync + checkpoint) and returns it.
    pub fn append(&self, entry: Entry) -> io::Result<AuditRecord> {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let mut record = AuditRecord {
            seq: tail.seq + 1,
            time: now_rfc3339(),
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            outcome: entry.outcome,
            prev_hash: tail.hash.clone(),
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        let written = (|| {
            let mut line = serde_json::to_vec(&record).map_err(io::Error::other)?;
            line.push(b'\n');
            tail.file.write_all(&line)?;
            tail.file.sync_data()
        })();
        // Once the line is durable the chain continues from it, even if the checkpoint fails.
        let result = written.and_then(|()| {
            tail.seq = record.seq;
            tail.hash = record.hash.clone();
            write_checkpoint(
                &self.dir,
                &Checkpoint {
                    seq: record.seq,
                    hash: record.hash.clone(),
                },
            )
        });
        match result {
            Ok(()) => Ok(record),
            Err(e) => {
                self.healthy.store(false, Ordering::SeqCst);
                tracing::error!("audit log write failed: {e}; mutating actions are now refused");
                Err(e)
            }
        }
    }
}

/// Reads the newest record's sequence number and hash from an existing log.
fn last_link(file: File, path: &Path) -> io::Result<(u64, String)> {
    let mut last = None;
    for line in BufReader::new(file).lines() {
        let line = line?;
        if !line.trim().is_empty() {
            last = Some(line);
        }
    }
    let Some(line) = last else {
        return Ok((0, GENESIS_HASH.to_owned()));
    };
    let record: AuditRecord = serde_json::from_str(&line).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: the last record is damaged ({e}); run `airlock audit verify`",
                path.display()
            ),
        )
    })?;
    Ok((record.seq, record.hash))
}

/// Replaces the checkpoint file atomically.
fn write_checkpoint(dir: &Path, checkpoint: &Checkpoint) -> io::Result<()> {
    let temp = dir.join(format!("{CHECKPOINT_FILE}.tmp"));
    let mut file = File::create(&temp)?;
    file.write_all(&serde_json::to_vec(checkpoint).map_err(io::Error::other)?)?;
    file.sync_data()?;
    fs::rename(&temp, dir.join(CHECKPOINT_FILE))
}

/// Reads a checkpoint file.
pub fn read_checkpoint(path: &Path) -> io::Result<Checkpoint> {
    serde_json::from_slice(&fs::read(path)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
