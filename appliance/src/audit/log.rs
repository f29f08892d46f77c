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
use super::segments::{chain_files, rotated_segments, segment_name};
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
    /// Bytes in the live file, and the sequence number of its first record.
    bytes: u64,
    first_in_file: u64,
}

impl Tail {
    /// The next record for `entry`, chained to the newest one.
    fn chain(&self, entry: Entry) -> AuditRecord {
        let mut record = AuditRecord {
            seq: self.seq + 1,
            time: now_rfc3339(),
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            outcome: entry.outcome,
            prev_hash: self.hash.clone(),
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        record
    }

    /// Writes and fsyncs one record; once it is durable the chain continues from it.
    fn write(&mut self, record: &AuditRecord) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        self.bytes += line.len() as u64;
        self.seq = record.seq;
        self.hash = record.hash.clone();
        Ok(())
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// When the live log is rotated and how long rotated segments are kept.
#[derive(Clone, Copy, Debug)]
pub struct Rotation {
    /// Rotate once the live file grows past this many bytes.
    pub max_bytes: u64,
    /// Delete rotated segments older than this many days (`None`: keep everything).
    pub keep_days: Option<u64>,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024 * 1024,
            keep_days: None,
        }
    }
}

/// An open audit log.
pub struct AuditLog {
    dir: PathBuf,
    rotation: Rotation,
    tail: Mutex<Tail>,
    healthy: AtomicBool,
}

impl AuditLog {
    /// Opens (or creates) the log in `dir`, continuing the chain from its last record.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Self::open_with(dir, Rotation::default())
    }

    /// Opens the log with a rotation and retention policy.
    pub fn open_with(dir: &Path, rotation: Rotation) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let mut newest = None;
        for file in chain_files(dir)?.iter().rev() {
            match File::open(file) {
                Ok(handle) => {
                    if let Some(link) = last_link(handle, file)? {
                        newest = Some(link);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let (seq, hash) = newest.unwrap_or((0, GENESIS_HASH.to_owned()));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let bytes = file.metadata()?.len();
        let first_in_file = first_seq(&path)?.unwrap_or(seq + 1);
        Ok(Self {
            dir: dir.to_owned(),
            rotation,
            tail: Mutex::new(Tail {
                file,
                seq,
                hash,
                bytes,
                first_in_file,
            }),
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
        self.tail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .checkpoint()
    }

    /// Appends one record durably (write + fsync + checkpoint) and returns it.
    pub fn append(&self, entry: Entry) -> io::Result<AuditRecord> {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let record = tail.chain(entry);
        let result = tail.write(&record).and_then(|()| {
            write_checkpoint(&self.dir, &tail.checkpoint())?;
            if tail.bytes > self.rotation.max_bytes {
                self.rotate(&mut tail)?;
            }
            Ok(())
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

impl AuditLog {
    /// Moves the live file aside as a segment, starts a new one, and applies retention.
    fn rotate(&self, tail: &mut Tail) -> io::Result<()> {
        let segment = self.dir.join(segment_name(tail.first_in_file, tail.seq));
        fs::rename(self.dir.join(LOG_FILE), &segment)?;
        tail.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(LOG_FILE))?;
        File::open(&self.dir)?.sync_all()?;
        tail.bytes = 0;
        tail.first_in_file = tail.seq + 1;
        let Some(days) = self.rotation.keep_days else {
            return Ok(());
        };
        let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86_400);
        let mut deleted: Option<(u64, u64, String)> = None;
        for old in rotated_segments(&self.dir)? {
            let modified = fs::metadata(&old.path)?.modified()?;
            if modified > cutoff {
                break;
            }
            let last_hash = last_link(File::open(&old.path)?, &old.path)?
                .map(|(_, h)| h)
                .unwrap_or_default();
            fs::remove_file(&old.path)?;
            let first = deleted.as_ref().map(|d| d.0).unwrap_or(old.first);
            deleted = Some((first, old.last, last_hash));
        }
        if let Some((first, last, hash)) = deleted {
            File::open(&self.dir)?.sync_all()?;
            let record = tail.chain(Entry {
                actor: "appliance".into(),
                action: "audit.retention".into(),
                target: format!("records {first}-{last} deleted (older than {days} days)"),
                outcome: format!("anchor seq={last} hash={hash}"),
            });
            tail.write(&record)?;
            write_checkpoint(&self.dir, &tail.checkpoint())?;
        }
        Ok(())
    }
}

/// The first record's sequence number in a log file, if it has one.
fn first_seq(path: &Path) -> io::Result<Option<u64>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for line in BufReader::new(file).lines() {
        let line = line?;
        if let Ok(record) = serde_json::from_str::<AuditRecord>(&line) {
            return Ok(Some(record.seq));
        }
    }
    Ok(None)
}

/// Reads the newest record's sequence number and hash from an existing log file.
fn last_link(file: File, path: &Path) -> io::Result<Option<(u64, String)>> {
    let mut last = None;
    for line in BufReader::new(file).lines() {
        let line = line?;
        if !line.trim().is_empty() {
            last = Some(line);
        }
    }
    let Some(line) = last else {
        return Ok(None);
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
    Ok(Some((record.seq, record.hash)))
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
