//! Checking the chain: every record's hash, every link, gap-free sequence numbers, and the
//! tail against the checkpoint. The first problem is reported with its sequence number.

use std::fs;
use std::path::Path;

use serde::Serialize;

use super::checkpoint::{AuditKey, Checkpoint, read_checkpoint};
use super::record::{AuditRecord, GENESIS_HASH};
use super::segments::chain_files;
use super::{ALARM_ACTION, CLOCK_ACTION, LOG_FILE};

/// The outcome of a verification.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records read.
    pub records: u64,
    /// True when no problem was found.
    pub ok: bool,
    /// Sequence number of the first bad (edited, missing or inserted) record.
    pub bad_seq: Option<u64>,
    /// What is wrong, for a person.
    pub problem: Option<String>,
    /// The newest record's sequence number and hash.
    pub head: Option<Checkpoint>,
    /// What a reviewer should know that is not tampering (a clock that went back, a seal
    /// that could not be checked).
    pub warnings: Vec<String>,
}

impl VerifyReport {
    fn failure(records: u64, bad_seq: u64, problem: String) -> Self {
        Self {
            records,
            ok: false,
            bad_seq: Some(bad_seq),
            problem: Some(problem),
            head: None,
            warnings: Vec::new(),
        }
    }
}

/// The text of the whole chain: for the live `audit.jsonl`, its rotated segments first.
fn chain_text(log: &Path) -> std::io::Result<String> {
    let live = log.file_name().is_some_and(|n| n == LOG_FILE);
    let Some(dir) = log.parent().filter(|_| live) else {
        return fs::read_to_string(log);
    };
    let mut text = String::new();
    for file in chain_files(dir)? {
        match fs::read_to_string(&file) {
            Ok(part) => text.push_str(&part),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file == log => {}
            Err(e) => return Err(e),
        }
    }
    Ok(text)
}

/// Where the chain legitimately starts after retention deleted its oldest segments: the
/// first remaining record must follow an `audit.retention` record's stated anchor.
fn retention_anchor(text: &str) -> Option<(u64, String)> {
    let first: AuditRecord = text.lines().find_map(|l| serde_json::from_str(l).ok())?;
    if first.seq <= 1 {
        return None;
    }
    let wanted = format!("anchor seq={} hash=", first.seq - 1);
    text.lines()
        .filter_map(|l| serde_json::from_str::<AuditRecord>(l).ok())
        .filter(|r| r.action == "audit.retention" && r.compute_hash() == r.hash)
        .find_map(|r| {
            r.outcome
                .strip_prefix(&wanted)
                .map(|h| (first.seq, h.to_owned()))
        })
}

/// Reads every record of the chain (for export), failing on a malformed line.
pub fn read_records(log: &Path) -> std::io::Result<Vec<AuditRecord>> {
    chain_text(log)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })
        .collect()
}

/// Verifies the log at `log`, and its tail against `checkpoint` when given, with the key
/// beside the log's folder (see [`AuditKey::path_for`]) when there is one.
pub fn verify(log: &Path, checkpoint: Option<&Path>) -> std::io::Result<VerifyReport> {
    let key = match log.parent() {
        Some(dir) => AuditKey::load(dir)?,
        None => None,
    };
    verify_with(log, checkpoint, key.as_ref())
}

/// Verifies the log at `log`: every record, no alarm in the chain, and, when given, the
/// checkpoint — it must name the newest record and carry `key`'s seal.
pub fn verify_with(
    log: &Path,
    checkpoint: Option<&Path>,
    key: Option<&AuditKey>,
) -> std::io::Result<VerifyReport> {
    let text = chain_text(log)?;
    let mut warnings = Vec::new();
    let (mut expected_seq, mut prev_hash) =
        retention_anchor(&text).unwrap_or((1, GENESIS_HASH.to_owned()));
    let mut prev_record: Option<AuditRecord> = None;
    let mut count = 0u64;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: AuditRecord = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                return Ok(VerifyReport::failure(
                    count,
                    expected_seq,
                    format!("line {} is not a valid record: {e}", index + 1),
                ));
            }
        };
        count += 1;
        if record.seq > expected_seq {
            return Ok(VerifyReport::failure(
                count,
                expected_seq,
                format!("record {expected_seq} is missing (next is {})", record.seq),
            ));
        }
        if record.seq < expected_seq {
            return Ok(VerifyReport::failure(
                count,
                record.seq,
                format!(
                    "record {} appears again after {}",
                    record.seq,
                    expected_seq - 1
                ),
            ));
        }
        if record.compute_hash() != record.hash {
            return Ok(VerifyReport::failure(
                count,
                record.seq,
                format!(
                    "record {} was altered: its hash does not match its content",
                    record.seq
                ),
            ));
        }
        if record.prev_hash != prev_hash {
            let culprit = prev_record.as_ref().map(|r| r.seq).unwrap_or(record.seq);
            return Ok(VerifyReport::failure(
                count,
                culprit,
                format!(
                    "record {culprit} is not the record that record {} was chained to (altered and re-hashed, or replaced)",
                    record.seq
                ),
            ));
        }
        if record.action == ALARM_ACTION {
            return Ok(VerifyReport::failure(
                count,
                record.seq,
                format!("record {} is an alarm: {}", record.seq, record.outcome),
            ));
        }
        if record.action == CLOCK_ACTION
            || prev_record.as_ref().is_some_and(|p| record.time < p.time)
        {
            warnings.push(format!(
                "record {}: the clock went back ({})",
                record.seq, record.time
            ));
        }
        prev_hash = record.hash.clone();
        expected_seq += 1;
        prev_record = Some(record);
    }
    let head = prev_record.as_ref().map(|r| Checkpoint {
        seq: r.seq,
        hash: r.hash.clone(),
        seal: None,
    });
    if let Some(path) = checkpoint {
        let mark = read_checkpoint(path)?;
        match key {
            Some(key) if !key.sealed(&mark) => {
                return Ok(VerifyReport::failure(
                    count,
                    mark.seq,
                    "the checkpoint does not carry the audit key's seal: it was written by something else".into(),
                ));
            }
            Some(_) => {}
            None => warnings
                .push("the checkpoint's seal was not checked: the audit key was not found".into()),
        }
        let last = head.as_ref().map(|h| h.seq).unwrap_or(0);
        if last > mark.seq {
            return Ok(VerifyReport::failure(
                count,
                mark.seq + 1,
                format!(
                    "the checkpoint is stale: it vouches for record {} but the log goes on to {last}",
                    mark.seq
                ),
            ));
        }
        if last < mark.seq {
            return Ok(VerifyReport::failure(
                count,
                last + 1,
                format!(
                    "the log ends at record {last} but the checkpoint vouches for {}: the tail was truncated",
                    mark.seq
                ),
            ));
        }
        let at_mark = text
            .lines()
            .filter_map(|l| serde_json::from_str::<AuditRecord>(l).ok())
            .find(|r| r.seq == mark.seq);
        if mark.seq > 0 && at_mark.map(|r| r.hash) != Some(mark.hash.clone()) {
            return Ok(VerifyReport::failure(
                count,
                mark.seq,
                format!("record {} differs from the checkpoint", mark.seq),
            ));
        }
    }
    Ok(VerifyReport {
        records: count,
        ok: true,
        bad_seq: None,
        problem: None,
        head,
        warnings,
    })
}
