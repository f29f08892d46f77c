//! The file tree as the sidebar renders it: children by folder, folders first, built once
//! from the appliance's flat listing so expanding a folder never walks the whole list.

use std::collections::HashMap;

use serde::Deserialize;

/// One row of `GET /api/fs/tree`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Entry {
    /// Workspace-relative path.
    pub path: String,
    /// `file`, `dir` or `symlink`.
    pub kind: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
}

/// What a tree node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A folder that can be expanded.
    Dir,
    /// A file that opens in the editor.
    File,
    /// A symbolic link (opened like a file; the appliance confines it).
    Symlink,
}

/// One node under a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Workspace-relative path.
    pub path: String,
    /// Last path segment.
    pub name: String,
    /// Kind.
    pub kind: NodeKind,
}

/// Children of every folder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TreeModel {
    children: HashMap<String, Vec<Node>>,
    /// The appliance left entries out (too many); the UI says so.
    pub truncated: bool,
    /// Number of entries.
    pub total: usize,
}

impl TreeModel {
    /// Builds the model from the flat listing.
    pub fn from_entries(entries: Vec<Entry>, truncated: bool) -> Self {
        let total = entries.len();
        let mut children: HashMap<String, Vec<Node>> = HashMap::new();
        for entry in entries {
            let kind = match entry.kind.as_str() {
                "dir" => NodeKind::Dir,
                "symlink" => NodeKind::Symlink,
                _ => NodeKind::File,
            };
            let parent = parent_of(&entry.path).to_owned();
            let name = name_of(&entry.path).to_owned();
            children.entry(parent).or_default().push(Node {
                path: entry.path,
                name,
                kind,
            });
        }
        for nodes in children.values_mut() {
            nodes.sort_by(|a, b| {
                (a.kind != NodeKind::Dir)
                    .cmp(&(b.kind != NodeKind::Dir))
                    .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
                    .then_with(|| a.name.cmp(&b.name))
            });
        }
        Self {
            children,
            truncated,
            total,
        }
    }

    /// The sorted children of `dir` (`""` is the root).
    pub fn children(&self, dir: &str) -> &[Node] {
        self.children.get(dir).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every file's path, sorted (for the chat's `@` picker).
    pub fn files(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .children
            .values()
            .flatten()
            .filter(|n| n.kind == NodeKind::File)
            .map(|n| n.path.clone())
            .collect();
        out.sort();
        out
    }

    /// The kind of the entry at `path`, if listed.
    pub fn kind_of(&self, path: &str) -> Option<NodeKind> {
        self.children(parent_of(path))
            .iter()
            .find(|n| n.path == path)
            .map(|n| n.kind)
    }
}

/// The folder holding `path` (`""` for top-level entries).
pub fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// The last segment of `path`.
pub fn name_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(_, n)| n).unwrap_or(path)
}

/// Every ancestor folder of `path`, outermost first (to expand the tree down to a file).
pub fn ancestors_of(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = parent_of(path);
    while !current.is_empty() {
        out.push(current.to_owned());
        current = parent_of(current);
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: kind.into(),
            size: 0,
        }
    }

    #[test]
    fn groups_by_parent_with_folders_first() {
        let model = TreeModel::from_entries(
            vec![
                entry("b.txt", "file"),
                entry("src", "dir"),
                entry("src/main.rs", "file"),
                entry("A.md", "file"),
                entry("docs", "dir"),
                entry("src/lib", "dir"),
                entry("link", "symlink"),
            ],
            false,
        );
        let names: Vec<_> = model.children("").iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["docs", "src", "A.md", "b.txt", "link"]);
        let src: Vec<_> = model
            .children("src")
            .iter()
            .map(|n| n.path.as_str())
            .collect();
        assert_eq!(src, ["src/lib", "src/main.rs"]);
        assert_eq!(model.kind_of("link"), Some(NodeKind::Symlink));
        assert_eq!(model.kind_of("src/lib"), Some(NodeKind::Dir));
        assert_eq!(model.total, 7);
        assert!(model.children("nope").is_empty());
    }

    #[test]
    fn path_helpers() {
        assert_eq!(parent_of("a/b/c.rs"), "a/b");
        assert_eq!(parent_of("c.rs"), "");
        assert_eq!(name_of("a/b/c.rs"), "c.rs");
        assert_eq!(ancestors_of("a/b/c.rs"), ["a", "a/b"]);
        assert!(ancestors_of("c.rs").is_empty());
    }
}
