//! Appending to the audit log: one writer, each record fsynced, then the checkpoint file
//! replaced atomically. A failed append marks the log unhealthy so mutating actions stop.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::checkpoint::{AuditKey, Checkpoint, read_checkpoint, write_checkpoint};
use super::clock::now_rfc3339;
use super::record::{AuditRecord, GENESIS_HASH};
use super::segments::{chain_files, rotated_segments, segment_name};
use super::{ALARM_ACTION, CHECKPOINT_FILE, CLOCK_ACTION, LOG_FILE};

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

struct Tail {
    file: File,
    seq: u64,
    hash: String,
    /// The newest record's time, to notice a clock that went back.
    time: String,
    /// Bytes in the live file, and the sequence number of its first record.
    bytes: u64,
    first_in_file: u64,
}

impl Tail {
    /// The next record for `entry` at `time`, chained to the newest one.
    fn chain(&self, entry: Entry, time: String) -> AuditRecord {
        let mut record = AuditRecord {
            seq: self.seq + 1,
            time,
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
        self.time = record.time.clone();
        Ok(())
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            seq: self.seq,
            hash: self.hash.clone(),
            seal: None,
        }
    }

    /// Writes `record`, then the sealed checkpoint.
    fn commit(&mut self, record: &AuditRecord, dir: &Path, key: &AuditKey) -> io::Result<()> {
        self.write(record)?;
        write_checkpoint(dir, &key.seal(self.seq, &self.hash))
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
    key: AuditKey,
    rotation: Rotation,
    tail: Mutex<Tail>,
    healthy: AtomicBool,
}

impl AuditLog {
    /// Opens (or creates) the log in `dir`, continuing the chain from its last record.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Self::open_with(dir, Rotation::default())
    }

    /// Opens the log with a rotation and retention policy. The folder is made private
    /// (0700), the key created beside it on first use, and a log whose tail does not match
    /// its checkpoint gets an `audit.alarm` record: the chain goes on, never silently
    /// re-anchored, and verification fails from then on.
    pub fn open_with(dir: &Path, rotation: Rotation) -> io::Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        let key_existed = AuditKey::path_for(dir).exists();
        let key = AuditKey::load_or_create(dir)?;
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
        let (seq, hash, time) = newest.unwrap_or((0, GENESIS_HASH.to_owned(), String::new()));
        let alarm = tail_problem(dir, &key, key_existed, seq, &hash);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        let bytes = file.metadata()?.len();
        let first_in_file = first_seq(&path)?.unwrap_or(seq + 1);
        let mut tail = Tail {
            file,
            seq,
            hash,
            time,
            bytes,
            first_in_file,
        };
        if let Some(problem) = alarm {
            tracing::error!("audit log alarm: {problem}");
            let record = tail.chain(
                Entry {
                    actor: "appliance".into(),
                    action: ALARM_ACTION.into(),
                    target: "checkpoint".into(),
                    outcome: problem,
                },
                now_rfc3339(),
            );
            tail.commit(&record, dir, &key)?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            key,
            rotation,
            tail: Mutex::new(tail),
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

    /// Verifies the whole chain and the checkpoint with this log's key, holding the writer
    /// lock so no append is half done while it reads.
    pub fn verify(&self) -> io::Result<super::VerifyReport> {
        let _tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        super::verify::verify_with(
            &self.dir.join(LOG_FILE),
            Some(&self.dir.join(CHECKPOINT_FILE)),
            Some(&self.key),
        )
    }

    /// Appends one record durably (write + fsync + checkpoint) and returns it.
    pub fn append(&self, entry: Entry) -> io::Result<AuditRecord> {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_rfc3339();
        // A clock that went back is recorded before the record that noticed it.
        let clock = (now < tail.time).then(|| {
            tail.chain(
                Entry {
                    actor: "appliance".into(),
                    action: CLOCK_ACTION.into(),
                    target: "clock".into(),
                    outcome: format!("the clock went back from {} to {now}", tail.time),
                },
                now.clone(),
            )
        });
        let result = clock
            .map_or(Ok(()), |c| tail.commit(&c, &self.dir, &self.key))
            .map(|()| tail.chain(entry, now))
            .and_then(|record| {
                tail.commit(&record, &self.dir, &self.key)?;
                Ok(record)
            });
        let result = result.and_then(|record| {
            if tail.bytes > self.rotation.max_bytes {
                self.rotate(&mut tail)?;
            }
            Ok(record)
        });
        match result {
            Ok(record) => Ok(record),
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
                .map(|(_, h, _)| h)
                .unwrap_or_default();
            fs::remove_file(&old.path)?;
            let first = deleted.as_ref().map(|d| d.0).unwrap_or(old.first);
            deleted = Some((first, old.last, last_hash));
        }
        if let Some((first, last, hash)) = deleted {
            File::open(&self.dir)?.sync_all()?;
            let record = tail.chain(
                Entry {
                    actor: "appliance".into(),
                    action: "audit.retention".into(),
                    target: format!("records {first}-{last} deleted (older than {days} days)"),
                    outcome: format!("anchor seq={last} hash={hash}"),
                },
                now_rfc3339(),
            );
            tail.commit(&record, &self.dir, &self.key)?;
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

/// Reads the newest record's sequence number, hash and time from an existing log file.
fn last_link(file: File, path: &Path) -> io::Result<Option<(u64, String, String)>> {
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
    Ok(Some((record.seq, record.hash, record.time)))
}

/// What is wrong between the log's newest record (`seq`, `hash`) and its checkpoint, if
/// anything. An unsealed checkpoint is accepted only while the key is new (an older log).
fn tail_problem(
    dir: &Path,
    key: &AuditKey,
    key_existed: bool,
    seq: u64,
    hash: &str,
) -> Option<String> {
    let mark = match read_checkpoint(&dir.join(CHECKPOINT_FILE)) {
        Ok(mark) => mark,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return (seq > 0)
                .then(|| format!("the checkpoint is missing while the log holds {seq} records"));
        }
        Err(e) => return Some(format!("the checkpoint cannot be read ({e})")),
    };
    if (mark.seal.is_some() || key_existed) && !key.sealed(&mark) {
        return Some(
            "the checkpoint does not carry the audit key's seal: it was written by something else"
                .into(),
        );
    }
    if mark.seq > seq {
        return Some(format!(
            "the log ends at record {seq} but the checkpoint vouches for record {}: records were removed while the appliance was stopped",
            mark.seq
        ));
    }
    if mark.seq < seq {
        return Some(format!(
            "the checkpoint vouches for record {} but the log goes on to record {seq}: an old checkpoint was put back, or the appliance stopped between a record and its checkpoint",
            mark.seq
        ));
    }
    (mark.hash != hash).then(|| format!("record {seq} differs from the checkpoint"))
}
