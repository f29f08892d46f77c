//! Open editor tabs: which files, their saved versions and dirty state, which one is active.

/// One open file.
#[derive(Clone, Debug, PartialEq)]
pub struct Tab {
    /// Workspace-relative path.
    pub path: String,
    /// Version on disk the buffer was last loaded from or saved as (`None`: not on disk).
    pub version: Option<String>,
    /// Unsaved changes.
    pub dirty: bool,
    /// Language shown in the status bar.
    pub language: String,
}

/// The tab strip.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tabs {
    /// Tabs in display order.
    pub list: Vec<Tab>,
    /// Path of the visible tab.
    pub active: Option<String>,
}

impl Tabs {
    /// Adds a tab (or keeps the existing one) and makes it active.
    pub fn open(&mut self, tab: Tab) {
        let path = tab.path.clone();
        if !self.list.iter().any(|t| t.path == path) {
            self.list.push(tab);
        }
        self.active = Some(path);
    }

    /// Removes a tab; returns the path that should become visible next.
    pub fn close(&mut self, path: &str) -> Option<String> {
        let Some(index) = self.list.iter().position(|t| t.path == path) else {
            return self.active.clone();
        };
        self.list.remove(index);
        if self.active.as_deref() == Some(path) {
            let next = index.min(self.list.len().saturating_sub(1));
            self.active = self.list.get(next).map(|t| t.path.clone());
        }
        self.active.clone()
    }

    /// The tab at `path`.
    pub fn get(&self, path: &str) -> Option<&Tab> {
        self.list.iter().find(|t| t.path == path)
    }

    /// Mutable access to the tab at `path`.
    pub fn get_mut(&mut self, path: &str) -> Option<&mut Tab> {
        self.list.iter_mut().find(|t| t.path == path)
    }

    /// The visible tab.
    pub fn active_tab(&self) -> Option<&Tab> {
        self.active.as_deref().and_then(|p| self.get(p))
    }

    /// Follows a rename of a file or folder: every tab under `from` moves to `to`.
    /// Returns the (old, new) path pairs that moved.
    pub fn rename(&mut self, from: &str, to: &str) -> Vec<(String, String)> {
        let mut moved = Vec::new();
        for tab in &mut self.list {
            let new_path = if tab.path == from {
                Some(to.to_owned())
            } else {
                tab.path
                    .strip_prefix(&format!("{from}/"))
                    .map(|rest| format!("{to}/{rest}"))
            };
            if let Some(new_path) = new_path {
                moved.push((std::mem::replace(&mut tab.path, new_path.clone()), new_path));
            }
        }
        if let Some(active) = &self.active
            && let Some((_, new)) = moved.iter().find(|(old, _)| old == active)
        {
            self.active = Some(new.clone());
        }
        moved
    }

    /// Paths of tabs under (or equal to) `path`, e.g. before deleting a folder.
    pub fn under(&self, path: &str) -> Vec<String> {
        self.list
            .iter()
            .filter(|t| t.path == path || t.path.starts_with(&format!("{path}/")))
            .map(|t| t.path.clone())
            .collect()
    }

    /// True if any tab has unsaved changes.
    pub fn any_dirty(&self) -> bool {
        self.list.iter().any(|t| t.dirty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab(path: &str) -> Tab {
        Tab {
            path: path.into(),
            version: Some("v".into()),
            dirty: false,
            language: "Rust".into(),
        }
    }

    #[test]
    fn open_close_keeps_a_sensible_active_tab() {
        let mut tabs = Tabs::default();
        tabs.open(tab("a"));
        tabs.open(tab("b"));
        tabs.open(tab("c"));
        tabs.open(tab("b"));
        assert_eq!(tabs.list.len(), 3);
        assert_eq!(tabs.active.as_deref(), Some("b"));
        assert_eq!(tabs.close("b").as_deref(), Some("c"));
        assert_eq!(tabs.close("c").as_deref(), Some("a"));
        assert_eq!(tabs.close("a"), None);
    }

    #[test]
    fn rename_moves_tabs_inside_a_folder() {
        let mut tabs = Tabs::default();
        tabs.open(tab("src/a.rs"));
        tabs.open(tab("src2/b.rs"));
        tabs.open(tab("src/deep/c.rs"));
        let moved = tabs.rename("src", "lib");
        assert_eq!(moved.len(), 2);
        assert_eq!(tabs.active.as_deref(), Some("lib/deep/c.rs"));
        assert!(tabs.get("src2/b.rs").is_some());
        assert_eq!(tabs.under("lib"), ["lib/a.rs", "lib/deep/c.rs"]);
    }
}
