//! Rotated log segments: `audit-FIRST-LAST.jsonl` files (zero-padded sequence numbers) that
//! precede the live `audit.jsonl` in the chain.

use std::path::{Path, PathBuf};

use super::LOG_FILE;

/// One rotated segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First record's sequence number.
    pub first: u64,
    /// Last record's sequence number.
    pub last: u64,
    /// The file.
    pub path: PathBuf,
}

/// The segment file name for records `first..=last`.
pub fn segment_name(first: u64, last: u64) -> String {
    format!("audit-{first:012}-{last:012}.jsonl")
}

/// Rotated segments in `dir`, oldest first.
pub fn rotated_segments(dir: &Path) -> std::io::Result<Vec<Segment>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(range) = name
            .strip_prefix("audit-")
            .and_then(|n| n.strip_suffix(".jsonl"))
        else {
            continue;
        };
        let Some((first, last)) = range.split_once('-') else {
            continue;
        };
        if let (Ok(first), Ok(last)) = (first.parse(), last.parse()) {
            segments.push(Segment {
                first,
                last,
                path: entry.path(),
            });
        }
    }
    segments.sort_by_key(|s| s.first);
    Ok(segments)
}

/// Every file of the chain in order: rotated segments, then the live log.
pub fn chain_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = rotated_segments(dir)?.into_iter().map(|s| s.path).collect();
    files.push(dir.join(LOG_FILE));
    Ok(files)
}
