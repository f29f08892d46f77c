//! Path confinement: turns a client's workspace-relative path into a real path that is
//! guaranteed to stay inside the workspace, or refuses it.

use std::io;
use std::path::{Component, Path, PathBuf};

/// A refused or unresolvable workspace path.
#[derive(Debug)]
pub enum PathError {
    /// The path is malformed: absolute, `..`, `.`, backslashes, NUL, empty segments.
    Invalid(String),
    /// The path resolves (through a symlink) to somewhere outside the workspace.
    Escapes(String),
    /// Nothing exists at the path.
    NotFound(String),
    /// The filesystem said no.
    Io(String, io::Error),
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::Invalid(why) => write!(f, "invalid workspace path: {why}"),
            PathError::Escapes(p) => write!(f, "{p:?} leads outside the workspace"),
            PathError::NotFound(p) => write!(f, "{p:?} does not exist"),
            PathError::Io(p, e) => write!(f, "{p:?}: {e}"),
        }
    }
}

impl std::error::Error for PathError {}

/// The canonical root folder of a workspace.
#[derive(Clone, Debug)]
pub struct WorkspaceRoot {
    root: PathBuf,
}

impl WorkspaceRoot {
    /// Opens `dir` as a workspace; it must exist and be a directory.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let root = dir.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(Self { root })
    }

    /// The canonical absolute root.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Validates the syntax of a relative path (`a/b.rs`); `""` is the root itself.
    pub fn check_syntax(relative: &str) -> Result<(), PathError> {
        let invalid = |why: &str| Err(PathError::Invalid(why.to_owned()));
        if relative.contains('\0') {
            return invalid("contains a NUL byte");
        }
        if relative.contains('\\') {
            return invalid("use '/' as the separator");
        }
        if relative.starts_with('/') || Path::new(relative).is_absolute() {
            return invalid("must be relative to the workspace");
        }
        if relative.is_empty() {
            return Ok(());
        }
        for segment in relative.split('/') {
            match segment {
                "" => return invalid("empty path segment"),
                "." | ".." => return invalid("'.' and '..' segments are not allowed"),
                _ => {}
            }
        }
        Ok(())
    }

    /// Resolves a path that must already exist, following symlinks only while they stay inside.
    pub fn resolve_existing(&self, relative: &str) -> Result<PathBuf, PathError> {
        Self::check_syntax(relative)?;
        let joined = self.root.join(relative);
        let real = joined.canonicalize().map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => match joined.symlink_metadata() {
                Ok(_) => PathError::Escapes(relative.to_owned()),
                Err(_) => PathError::NotFound(relative.to_owned()),
            },
            _ => PathError::Io(relative.to_owned(), e),
        })?;
        self.ensure_inside(&real, relative)?;
        Ok(real)
    }

    /// Resolves a path that is about to be created: its parent must exist inside the workspace
    /// and the final name must not be a symlink that points elsewhere.
    pub fn resolve_new(&self, relative: &str) -> Result<PathBuf, PathError> {
        Self::check_syntax(relative)?;
        if relative.is_empty() {
            return Err(PathError::Invalid("the workspace root itself".into()));
        }
        let joined = self.root.join(relative);
        let name = joined
            .file_name()
            .ok_or_else(|| PathError::Invalid("no file name".into()))?
            .to_owned();
        let parent_rel = relative.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let parent = self.resolve_existing(parent_rel)?;
        if !parent.is_dir() {
            return Err(PathError::Invalid(format!(
                "{parent_rel:?} is not a folder"
            )));
        }
        let target = parent.join(name);
        if target.symlink_metadata().is_ok() {
            return self.resolve_existing(relative);
        }
        Ok(target)
    }

    /// The workspace-relative form of a real path inside the workspace.
    pub fn relative_of(&self, real: &Path) -> Option<String> {
        let rel = real.strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = rel
            .components()
            .map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect();
        Some(parts?.join("/"))
    }

    fn ensure_inside(&self, real: &Path, relative: &str) -> Result<(), PathError> {
        // Path::starts_with compares whole components, so /ws2 never counts as inside /ws.
        if real.starts_with(&self.root) {
            Ok(())
        } else {
            Err(PathError::Escapes(relative.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_rules() {
        for ok in ["", "a", "a/b.rs", ".gitignore", "dir/.hidden", "%2e%2e"] {
            assert!(WorkspaceRoot::check_syntax(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/etc/passwd",
            "..",
            "a/../b",
            "./a",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
        ] {
            assert!(WorkspaceRoot::check_syntax(bad).is_err(), "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_and_prefix_confusion_are_refused() {
        let outer = tempfile::tempdir().unwrap();
        let ws = outer.path().join("ws");
        let ws2 = outer.path().join("ws2");
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::create_dir_all(&ws2).unwrap();
        std::fs::write(ws2.join("secret"), "s").unwrap();
        std::fs::write(ws.join("src/main.rs"), "m").unwrap();
        std::os::unix::fs::symlink(ws2.join("secret"), ws.join("leak")).unwrap();
        std::os::unix::fs::symlink(&ws2, ws.join("leakdir")).unwrap();
        std::os::unix::fs::symlink("src/main.rs", ws.join("inside")).unwrap();
        let root = WorkspaceRoot::open(&ws).unwrap();
        assert!(root.resolve_existing("src/main.rs").is_ok());
        assert!(root.resolve_existing("inside").is_ok());
        assert!(matches!(
            root.resolve_existing("leak"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(
            root.resolve_existing("leakdir/secret"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(
            root.resolve_new("leakdir/new"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(
            root.resolve_new("leak"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(
            root.resolve_existing("nope"),
            Err(PathError::NotFound(_))
        ));
        assert!(root.resolve_new("src/new.rs").is_ok());
    }
}
