//! Reading and changing files in the workspace. Every change is atomic and versioned: a
//! write names the version it was based on and is refused (not merged, not lost) if the
//! file moved on meanwhile.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use super::paths::{PathError, WorkspaceRoot};
use super::version::version_of;

/// Largest file the editor opens or saves: beyond it a clear refusal, never truncation.
pub const MAX_EDITABLE_BYTES: u64 = 8 * 1024 * 1024;

/// A text file as the editor sees it.
#[derive(Debug, Serialize)]
pub struct FileText {
    /// Workspace-relative path.
    pub path: String,
    /// The whole content, as UTF-8 text.
    pub content: String,
    /// Version to send back with the next write.
    pub version: String,
    /// Size in bytes.
    pub size: u64,
}

/// Why a file operation did not happen. Nothing on disk changed when one is returned.
#[derive(Debug)]
pub enum FileError {
    /// The path was refused or does not exist.
    Path(PathError),
    /// A folder where a file was expected.
    IsADirectory(String),
    /// Bigger than [`MAX_EDITABLE_BYTES`].
    TooLarge {
        /// The file's size.
        size: u64,
    },
    /// Not UTF-8 text.
    Binary {
        /// The file's size.
        size: u64,
    },
    /// The file's current version is not the one the write was based on.
    Conflict {
        /// The version the client based its write on (`None`: it expected no file).
        base: Option<String>,
        /// The version on disk now (`None`: the file is gone).
        current: Option<String>,
        /// The text on disk now, when it is text and not too large.
        current_content: Option<String>,
    },
    /// The target of a create or rename already exists.
    AlreadyExists(String),
    /// A folder delete without `recursive` on a folder that has entries.
    NotEmpty(String),
    /// The filesystem failed.
    Io(String, io::Error),
}

impl From<PathError> for FileError {
    fn from(e: PathError) -> Self {
        FileError::Path(e)
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Path(e) => e.fmt(f),
            FileError::IsADirectory(p) => write!(f, "{p:?} is a folder"),
            FileError::TooLarge { size } => write!(
                f,
                "the file is {size} bytes; the editor handles files up to {MAX_EDITABLE_BYTES} bytes"
            ),
            FileError::Binary { size } => write!(f, "the file ({size} bytes) is not UTF-8 text"),
            FileError::Conflict { .. } => write!(f, "the file changed since it was read"),
            FileError::AlreadyExists(p) => write!(f, "{p:?} already exists"),
            FileError::NotEmpty(p) => write!(f, "{p:?} is not empty"),
            FileError::Io(p, e) => write!(f, "{p:?}: {e}"),
        }
    }
}

impl std::error::Error for FileError {}

/// What to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
}

/// One workspace, with its changes serialised so version checks and renames cannot race
/// each other inside the appliance.
pub struct Workspace {
    root: WorkspaceRoot,
    changes: Mutex<()>,
}

impl Workspace {
    /// Opens `dir` as the workspace.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            root: WorkspaceRoot::open(dir)?,
            changes: Mutex::new(()),
        })
    }

    /// The confined root.
    pub fn root(&self) -> &WorkspaceRoot {
        &self.root
    }

    /// Reads a text file with its version.
    pub fn read(&self, relative: &str) -> Result<FileText, FileError> {
        let real = self.root.resolve_existing(relative)?;
        let (content, version, size) = read_text(&real, relative)?;
        Ok(FileText {
            path: relative.to_owned(),
            content,
            version,
            size,
        })
    }

    /// Replaces (or, with `base_version = None`, creates) a file atomically, only if it is
    /// still at `base_version`. Returns the new version.
    pub fn write(
        &self,
        relative: &str,
        content: &str,
        base_version: Option<&str>,
    ) -> Result<String, FileError> {
        if content.len() as u64 > MAX_EDITABLE_BYTES {
            return Err(FileError::TooLarge {
                size: content.len() as u64,
            });
        }
        let _serial = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let target = match base_version {
            Some(base) => {
                let real = match self.root.resolve_existing(relative) {
                    Ok(real) => real,
                    Err(PathError::NotFound(_)) => {
                        return Err(FileError::Conflict {
                            base: Some(base.to_owned()),
                            current: None,
                            current_content: None,
                        });
                    }
                    Err(e) => return Err(e.into()),
                };
                let current = current_state(&real, relative)?;
                if current.0 != base {
                    return Err(FileError::Conflict {
                        base: Some(base.to_owned()),
                        current: Some(current.0),
                        current_content: current.1,
                    });
                }
                real
            }
            None => {
                let real = self.root.resolve_new(relative)?;
                if real.symlink_metadata().is_ok() {
                    let current = current_state(&real, relative)?;
                    return Err(FileError::Conflict {
                        base: None,
                        current: Some(current.0),
                        current_content: current.1,
                    });
                }
                real
            }
        };
        replace_atomically(&target, content.as_bytes())
            .map_err(|e| FileError::Io(relative.to_owned(), e))?;
        Ok(version_of(content.as_bytes()))
    }

    /// Creates an empty folder, or a file with `content`, refusing to overwrite anything.
    pub fn create(
        &self,
        relative: &str,
        kind: EntryKind,
        content: &str,
    ) -> Result<Option<String>, FileError> {
        if content.len() as u64 > MAX_EDITABLE_BYTES {
            return Err(FileError::TooLarge {
                size: content.len() as u64,
            });
        }
        let _serial = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let target = self.root.resolve_new(relative)?;
        if target.symlink_metadata().is_ok() {
            return Err(FileError::AlreadyExists(relative.to_owned()));
        }
        let io_err = |e: io::Error| match e.kind() {
            io::ErrorKind::AlreadyExists => FileError::AlreadyExists(relative.to_owned()),
            _ => FileError::Io(relative.to_owned(), e),
        };
        match kind {
            EntryKind::Dir => {
                fs::create_dir(&target).map_err(io_err)?;
                sync_parent(&target).map_err(io_err)?;
                Ok(None)
            }
            EntryKind::File => {
                create_no_clobber(&target, content.as_bytes()).map_err(io_err)?;
                Ok(Some(version_of(content.as_bytes())))
            }
        }
    }

    /// Renames a file or folder; the destination must not exist.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), FileError> {
        let _serial = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let source = self.locate_entry(from)?;
        let target = self.root.resolve_new(to)?;
        if target.symlink_metadata().is_ok() {
            return Err(FileError::AlreadyExists(to.to_owned()));
        }
        if target.starts_with(&source) {
            return Err(FileError::Path(PathError::Invalid(
                "cannot move a folder into itself".into(),
            )));
        }
        fs::rename(&source, &target).map_err(|e| FileError::Io(from.to_owned(), e))?;
        sync_parent(&target).map_err(|e| FileError::Io(to.to_owned(), e))?;
        Ok(())
    }

    /// Deletes a file, or a folder (non-empty folders only with `recursive`).
    pub fn delete(&self, relative: &str, recursive: bool) -> Result<(), FileError> {
        let _serial = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let entry = self.locate_entry(relative)?;
        let io_err = |e: io::Error| FileError::Io(relative.to_owned(), e);
        let meta = entry.symlink_metadata().map_err(io_err)?;
        if meta.is_dir() {
            if recursive {
                fs::remove_dir_all(&entry).map_err(io_err)?;
            } else if fs::read_dir(&entry).map_err(io_err)?.next().is_some() {
                return Err(FileError::NotEmpty(relative.to_owned()));
            } else {
                fs::remove_dir(&entry).map_err(io_err)?;
            }
        } else {
            fs::remove_file(&entry).map_err(io_err)?;
        }
        sync_parent(&entry).map_err(io_err)
    }

    /// The path of an existing entry itself (a symlink is not followed), inside the workspace.
    fn locate_entry(&self, relative: &str) -> Result<PathBuf, FileError> {
        WorkspaceRoot::check_syntax(relative)?;
        if relative.is_empty() {
            return Err(PathError::Invalid("the workspace root itself".into()).into());
        }
        let (parent_rel, name) = relative.rsplit_once('/').unwrap_or(("", relative));
        let parent = self.root.resolve_existing(parent_rel)?;
        let entry = parent.join(name);
        if entry.symlink_metadata().is_err() {
            return Err(PathError::NotFound(relative.to_owned()).into());
        }
        Ok(entry)
    }
}

fn read_text(real: &Path, relative: &str) -> Result<(String, String, u64), FileError> {
    let io_err = |e: io::Error| FileError::Io(relative.to_owned(), e);
    let meta = fs::metadata(real).map_err(io_err)?;
    if meta.is_dir() {
        return Err(FileError::IsADirectory(relative.to_owned()));
    }
    let size = meta.len();
    if size > MAX_EDITABLE_BYTES {
        return Err(FileError::TooLarge { size });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    File::open(real)
        .and_then(|f| f.take(MAX_EDITABLE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_EDITABLE_BYTES {
        return Err(FileError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    let version = version_of(&bytes);
    let size = bytes.len() as u64;
    let content = String::from_utf8(bytes).map_err(|_| FileError::Binary { size })?;
    if content.contains('\0') {
        return Err(FileError::Binary { size });
    }
    Ok((content, version, size))
}

/// The version of whatever is on disk now, and its text when it is editable.
fn current_state(real: &Path, relative: &str) -> Result<(String, Option<String>), FileError> {
    match read_text(real, relative) {
        Ok((content, version, _)) => Ok((version, Some(content))),
        Err(FileError::TooLarge { .. } | FileError::Binary { .. }) => {
            let bytes = fs::read(real).map_err(|e| FileError::Io(relative.to_owned(), e))?;
            Ok((version_of(&bytes), None))
        }
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to a fresh temp file beside `target`, syncs it, and hands it to `commit`;
/// the temp file never outlives a failure.
fn with_temp_file(
    target: &Path,
    bytes: &[u8],
    commit: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let dir = target
        .parent()
        .ok_or_else(|| io::Error::other("no parent folder"))?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file");
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|e| io::Error::other(e.to_string()))?;
    let temp = dir.join(format!(".{name}.airlock-{}.tmp", hex::encode(nonce)));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let mut file = options.open(&temp)?;
        if let Ok(meta) = fs::metadata(target) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        commit(&temp)?;
        sync_parent(target)
    })();
    let _ = fs::remove_file(&temp);
    result
}

/// Temp file + fsync + rename: readers see the old file or the new one, never half of it.
fn replace_atomically(target: &Path, bytes: &[u8]) -> io::Result<()> {
    with_temp_file(target, bytes, |temp| fs::rename(temp, target))
}

/// Like [`replace_atomically`], but fails with `AlreadyExists` instead of replacing.
fn create_no_clobber(target: &Path, bytes: &[u8]) -> io::Result<()> {
    with_temp_file(target, bytes, |temp| fs::hard_link(temp, target))
}

fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), "one").unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        (dir, ws)
    }

    #[test]
    fn stale_write_is_refused_and_loses_nothing() {
        let (dir, ws) = workspace();
        let first = ws.read("a.txt").unwrap();
        let v2 = ws.write("a.txt", "two", Some(&first.version)).unwrap();
        let err = ws
            .write("a.txt", "stale", Some(&first.version))
            .unwrap_err();
        match err {
            FileError::Conflict {
                current,
                current_content,
                ..
            } => {
                assert_eq!(current.as_deref(), Some(v2.as_str()));
                assert_eq!(current_content.as_deref(), Some("two"));
            }
            other => panic!("expected conflict, got {other:?}"),
        }
        assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "two");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }

    #[test]
    fn create_rename_delete() {
        let (dir, ws) = workspace();
        assert!(matches!(
            ws.create("a.txt", EntryKind::File, ""),
            Err(FileError::AlreadyExists(_))
        ));
        ws.create("src", EntryKind::Dir, "").unwrap();
        ws.create("src/lib.rs", EntryKind::File, "fn x() {}")
            .unwrap();
        assert!(matches!(
            ws.rename("src/lib.rs", "a.txt"),
            Err(FileError::AlreadyExists(_))
        ));
        ws.rename("src/lib.rs", "src/main.rs").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("src/main.rs")).unwrap(),
            "fn x() {}"
        );
        assert!(matches!(
            ws.rename("src", "src/inner"),
            Err(FileError::Path(_))
        ));
        assert!(matches!(
            ws.delete("src", false),
            Err(FileError::NotEmpty(_))
        ));
        ws.delete("src", true).unwrap();
        assert!(!dir.path().join("src").exists());
        assert!(ws.delete("", true).is_err());
    }

    #[test]
    fn binary_and_oversized_files_are_refused_clearly() {
        let (dir, ws) = workspace();
        fs::write(dir.path().join("bin"), [0u8, 159, 146, 150]).unwrap();
        assert!(matches!(ws.read("bin"), Err(FileError::Binary { size: 4 })));
        let big = vec![b'a'; MAX_EDITABLE_BYTES as usize + 1];
        fs::write(dir.path().join("big"), &big).unwrap();
        assert!(matches!(ws.read("big"), Err(FileError::TooLarge { .. })));
        assert!(matches!(ws.read(""), Err(FileError::IsADirectory(_))));
    }
}
