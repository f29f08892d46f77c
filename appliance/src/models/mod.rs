//! The model store: GGUF files and a manifest (`manifest.json`) naming each file's SHA-256,
//! size and what the fit calculator needs. `airlock models import|list|verify|remove|fit`
//! manage it; `airlock serve --models DIR` serves it to the in-browser engine. A file whose
//! size, time or hash no longer matches is damaged and never served. A folder of `*.gguf`
//! files without a manifest is read the same way, hashed once at start.

pub mod hash;
pub mod manifest;
pub mod store;

pub use store::ModelStore;

/// The default store: `$XDG_DATA_HOME/airlock/models` (or `~/.local/share/airlock/models`).
pub fn default_store_dir() -> std::path::PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/share"))
        })
        .unwrap_or_else(|| std::path::PathBuf::from(".airlock-data"))
        .join("airlock/models")
}

/// Whether `name` is a plain `*.gguf` file name (no folders, no hidden files).
pub fn valid_name(name: &str) -> bool {
    name.len() <= 200
        && name.ends_with(".gguf")
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_gguf_names_are_served() {
        assert!(valid_name("SmolLM2-135M-Instruct.Q4_1.gguf"));
        for bad in [
            "../x.gguf",
            "a/b.gguf",
            ".hidden.gguf",
            "x.bin",
            "x.gguf/",
            "%2e.gguf",
            "a b.gguf",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
