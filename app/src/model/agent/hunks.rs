//! Per-hunk review of an edit: the change from the file's text to the proposed one, cut into
//! the hunks a unified diff shows, and the text that results from accepting only some of them.

use similar::{DiffOp, TextDiff};

/// Lines of context around each hunk.
const CONTEXT: usize = 3;

/// One hunk as shown: `@@ … @@` and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// The unified-diff text of this hunk.
    pub text: String,
    /// Lines it adds and removes.
    pub added: usize,
    /// Lines it removes.
    pub removed: usize,
}

/// An edit under review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The file.
    pub path: String,
    /// Its text now (empty for a new file).
    pub old: String,
    /// The text proposed.
    pub new: String,
    /// Whether the file exists.
    pub exists: bool,
    /// The hunks, in file order.
    pub hunks: Vec<Hunk>,
    /// Which hunks are accepted (all at first).
    pub accepted: Vec<bool>,
}

impl Review {
    /// The review of writing `new` over `old`.
    pub fn new(path: &str, old: &str, new: &str, exists: bool) -> Self {
        let diff = TextDiff::from_lines(old, new);
        let hunks: Vec<Hunk> = diff
            .unified_diff()
            .context_radius(CONTEXT)
            .iter_hunks()
            .map(|hunk| {
                let (mut added, mut removed) = (0, 0);
                for op in hunk.ops() {
                    let (_, old_range, new_range) = op.as_tag_tuple();
                    if !matches!(op, DiffOp::Equal { .. }) {
                        removed += old_range.len();
                        added += new_range.len();
                    }
                }
                Hunk {
                    text: hunk.to_string(),
                    added,
                    removed,
                }
            })
            .collect();
        Self {
            path: path.to_owned(),
            old: old.to_owned(),
            new: new.to_owned(),
            exists,
            accepted: vec![true; hunks.len()],
            hunks,
        }
    }

    /// The text with only the accepted hunks applied.
    pub fn result(&self) -> String {
        let diff = TextDiff::from_lines(&self.old, &self.new);
        let old_lines = diff.old_slices();
        let new_lines = diff.new_slices();
        // Each change belongs to the hunk whose ops hold it, found by its position.
        let mut owner = Vec::new();
        for (i, hunk) in diff
            .unified_diff()
            .context_radius(CONTEXT)
            .iter_hunks()
            .enumerate()
        {
            for op in hunk.ops() {
                if !matches!(op, DiffOp::Equal { .. }) {
                    owner.push((op.old_range().start, op.new_range().start, i));
                }
            }
        }
        let mut out = String::with_capacity(self.new.len().max(self.old.len()));
        for op in diff.ops() {
            let (old_range, new_range) = (op.old_range(), op.new_range());
            let take_new = match op {
                DiffOp::Equal { .. } => false,
                _ => owner
                    .iter()
                    .find(|(o, n, _)| *o == old_range.start && *n == new_range.start)
                    .is_some_and(|(_, _, i)| self.accepted.get(*i).copied().unwrap_or(false)),
            };
            let lines = if take_new {
                &new_lines[new_range]
            } else {
                &old_lines[old_range]
            };
            lines.iter().for_each(|l| out.push_str(l));
        }
        out
    }

    /// How many hunks are accepted.
    pub fn accepted_count(&self) -> usize {
        self.accepted.iter().filter(|a| **a).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn hunks_can_be_taken_one_by_one() {
        let old = numbered(30);
        let new = old
            .replace("line 2\n", "line two\n")
            .replace("line 20\n", "")
            .replace("line 28\n", "line 28\nline 28.5\n");
        let mut review = Review::new("f.txt", &old, &new, true);
        assert_eq!(review.hunks.len(), 3, "{:#?}", review.hunks);
        assert!(review.hunks[0].text.starts_with("@@ -1,5 +1,5 @@"));
        assert_eq!((review.hunks[1].added, review.hunks[1].removed), (0, 1));
        assert_eq!(review.result(), new, "all accepted: the proposal");
        review.accepted = vec![false, true, false];
        assert_eq!(review.result(), old.replace("line 20\n", ""));
        review.accepted = vec![true, false, true];
        assert_eq!(
            review.result(),
            old.replace("line 2\n", "line two\n")
                .replace("line 28\n", "line 28\nline 28.5\n")
        );
        review.accepted = vec![false; 3];
        assert_eq!(review.result(), old);
        assert_eq!(review.accepted_count(), 0);
    }

    #[test]
    fn a_new_file_is_one_hunk_and_text_without_final_newline_survives() {
        let review = Review::new("hello.py", "", "print('hello')", false);
        assert_eq!(review.hunks.len(), 1);
        assert_eq!(review.result(), "print('hello')");
        let edit = Review::new("a", "x\ny", "x\nz", true);
        assert_eq!(edit.result(), "x\nz");
        let mut none = edit.clone();
        none.accepted = vec![false];
        assert_eq!(none.result(), "x\ny");
    }
}
