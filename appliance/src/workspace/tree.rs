//! Lists the workspace tree the way a developer expects: `.gitignore` respected, `.git`
//! hidden, symlinks listed but never followed, and an explicit flag when the list is cut.

use serde::Serialize;

use super::paths::WorkspaceRoot;

/// Most entries one listing returns; beyond it `truncated` says so.
pub const MAX_TREE_ENTRIES: usize = 200_000;

/// One file or folder in the tree.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct TreeEntry {
    /// Workspace-relative path with `/` separators.
    pub path: String,
    /// `file`, `dir` or `symlink`.
    pub kind: &'static str,
    /// Size in bytes for files, 0 otherwise.
    pub size: u64,
}

/// The whole listing.
#[derive(Debug, Serialize)]
pub struct TreeListing {
    /// Entries sorted by path.
    pub entries: Vec<TreeEntry>,
    /// True when more than `limit` entries exist and the rest were left out.
    pub truncated: bool,
}

/// Walks the workspace, keeping at most `limit` entries.
pub fn list_tree(root: &WorkspaceRoot, limit: usize) -> TreeListing {
    let walker = ignore::WalkBuilder::new(root.path())
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .require_git(false)
        .follow_links(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    let mut entries = Vec::new();
    let mut truncated = false;
    for entry in walker.flatten() {
        if entry.depth() == 0 {
            continue;
        }
        let Some(path) = root.relative_of(entry.path()) else {
            continue;
        };
        if entries.len() == limit {
            truncated = true;
            break;
        }
        let file_type = entry.file_type();
        let (kind, size) = match file_type {
            Some(t) if t.is_dir() => ("dir", 0),
            Some(t) if t.is_symlink() => ("symlink", 0),
            _ => ("file", entry.metadata().map(|m| m.len()).unwrap_or(0)),
        };
        entries.push(TreeEntry { path, kind, size });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    TreeListing { entries, truncated }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn respects_gitignore_and_hides_dot_git() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join(".git/objects")).unwrap();
        fs::create_dir_all(p.join("target/debug")).unwrap();
        fs::create_dir_all(p.join("src")).unwrap();
        fs::write(p.join(".gitignore"), "target/\n*.log\n").unwrap();
        fs::write(p.join("src/main.rs"), "fn main() {}").unwrap();
        fs::write(p.join("debug.log"), "x").unwrap();
        fs::write(p.join("target/debug/app"), "x").unwrap();
        let root = WorkspaceRoot::open(p).unwrap();
        let listing = list_tree(&root, MAX_TREE_ENTRIES);
        let paths: Vec<_> = listing.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, [".gitignore", "src", "src/main.rs"]);
        assert!(!listing.truncated);
        assert_eq!(listing.entries[2].size, 12);
        let cut = list_tree(&root, 2);
        assert!(cut.truncated);
        assert_eq!(cut.entries.len(), 2);
    }
}
