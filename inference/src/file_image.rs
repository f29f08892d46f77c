//! A model file's bytes, shared by every weight that points into it: read into memory (tests,
//! the browser) or, natively, memory-mapped so an opened model costs page cache that the
//! kernel can drop and refill, not a heap copy of the whole file.

use std::sync::Arc;

/// A model file image; clones share the same bytes.
#[derive(Clone)]
pub struct FileImage(Arc<dyn AsRef<[u8]> + Send + Sync>);

impl FileImage {
    /// Wraps bytes already in memory.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Self(Arc::new(bytes))
    }

    /// Memory-maps the file at `path` read-only.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn map(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        if file.metadata()?.len() == 0 {
            // An empty map is not portable; an empty image is, and parsing it says "truncated".
            return Ok(Self::from_vec(Vec::new()));
        }
        Ok(Self(Arc::new(map_read_only(&file)?)))
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl std::fmt::Debug for FileImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileImage({} bytes)", self.bytes().len())
    }
}

/// The workspace's one `unsafe` call (`cargo xtask lint` checks that it stays the only one).
#[cfg(not(target_arch = "wasm32"))]
#[allow(unsafe_code)]
fn map_read_only(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only and private to this process. What no code can rule out is
    // another process truncating or rewriting the file while it is mapped (a bus error or
    // changed weights); model files live in the user's own models folder and are not written
    // while Airlock runs, the same contract llama.cpp and safetensors' loaders rely on.
    unsafe { memmap2::MmapOptions::new().map(file) }
}
