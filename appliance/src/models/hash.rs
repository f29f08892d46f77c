//! SHA-256 of model files, read in 1 MiB chunks (never whole in memory).

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Bytes read per chunk.
pub const CHUNK: usize = 1 << 20;

/// The lower-case hex SHA-256 of the file at `path`.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    hash_copy(path, None)
}

/// Copies `from` into the new file `to` (fsynced), returning the SHA-256 of the bytes copied.
pub fn copy_with_sha256(from: &Path, to: &Path) -> std::io::Result<String> {
    let target = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    hash_copy(from, Some(target))
}

/// Reads `from` in chunks, hashing each and writing it to `target` when given.
fn hash_copy(from: &Path, mut target: Option<std::fs::File>) -> std::io::Result<String> {
    let mut source = std::fs::File::open(from)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = source.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        if let Some(target) = target.as_mut() {
            target.write_all(&buffer[..n])?;
        }
    }
    if let Some(target) = target {
        target.sync_all()?;
    }
    Ok(hex::encode(hasher.finalize()))
}
