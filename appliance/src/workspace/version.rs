//! Content versions: a write names the version it was based on, so stale writes are caught.

use sha2::{Digest, Sha256};

/// The version of a file's bytes: the first 128 bits of their SHA-256, in hex.
pub fn version_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_differ_with_content() {
        assert_eq!(super::version_of(b"a"), super::version_of(b"a"));
        assert_ne!(super::version_of(b"a"), super::version_of(b"b"));
        assert_eq!(super::version_of(b"").len(), 32);
    }
}
