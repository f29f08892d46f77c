//! The policy in force for a running appliance, and the user's confirmations of workspace
//! policies that loosen the defaults.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::{Policy, WORKSPACE_POLICY, text_hash};

/// The policy in force, re-read whenever its file changes so edits take effect (and are
/// audited) without a restart. A file that stops parsing fails closed: tools are refused
/// until it is fixed, rather than falling back to a looser policy.
#[derive(Debug)]
pub struct PolicyStore {
    workspace: PathBuf,
    pinned: Option<PathBuf>,
    /// Where confirmed policy hashes are kept (outside the workspace), if anywhere.
    confirmations: Option<PathBuf>,
    current: RwLock<Result<Arc<Policy>, String>>,
}

/// What a refresh found.
#[derive(Debug, PartialEq, Eq)]
pub enum PolicyChange {
    /// Same text as before.
    Unchanged,
    /// A new valid policy replaced the old one.
    Changed {
        /// Hash before.
        old_hash: String,
        /// Hash now.
        new_hash: String,
    },
    /// The file no longer parses (or cannot be read); tools are refused.
    Broken(String),
}

impl PolicyStore {
    /// Loads the policy once; an invalid policy at start-up is an error. `confirmations`
    /// is the file of workspace policies the user accepted as written.
    pub fn load(
        workspace: &Path,
        pinned: Option<&Path>,
        confirmations: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let confirmed = read_confirmations(confirmations.as_deref());
        let policy = Policy::load(workspace, pinned, &|h| confirmed.contains(h))?;
        Ok(Self {
            workspace: workspace.to_owned(),
            pinned: pinned.map(Path::to_owned),
            confirmations,
            current: RwLock::new(Ok(Arc::new(policy))),
        })
    }

    /// Accepts the workspace policy whose text has SHA-256 `hash` as written, loosenings
    /// included; fails when that is not the policy file's text now.
    pub fn confirm(&self, hash: &str) -> Result<PolicyChange, String> {
        let Some(path) = &self.confirmations else {
            return Err("this appliance keeps no policy confirmations".into());
        };
        if self.pinned.is_some() {
            return Err("an administrator pinned the policy; there is nothing to confirm".into());
        }
        let text = std::fs::read_to_string(self.workspace.join(WORKSPACE_POLICY))
            .map_err(|e| format!("cannot read {WORKSPACE_POLICY}: {e}"))?;
        if text_hash(&text) != hash {
            return Err("the policy file changed since it was shown; read it again".into());
        }
        let mut confirmed = read_confirmations(Some(path));
        confirmed.insert(hash.to_owned());
        let json = serde_json::to_vec_pretty(&confirmed).map_err(|e| e.to_string())?;
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, json)
            .and_then(|()| std::fs::rename(&temp, path))
            .map_err(|e| format!("cannot record the confirmation in {}: {e}", path.display()))?;
        Ok(self.refresh())
    }

    /// The policy in force, or why there is none.
    pub fn current(&self) -> Result<Arc<Policy>, String> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the policy file and swaps it in when its text changed.
    pub fn refresh(&self) -> PolicyChange {
        let confirmed = read_confirmations(self.confirmations.as_deref());
        let loaded = Policy::load(&self.workspace, self.pinned.as_deref(), &|h| {
            confirmed.contains(h)
        });
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let old = current
            .as_ref()
            .map(|p| (p.hash.clone(), p.loosenings_ignored))
            .ok();
        let old_hash = old.as_ref().map(|(h, _)| h.clone());
        match loaded {
            Ok(policy) if old == Some((policy.hash.clone(), policy.loosenings_ignored)) => {
                PolicyChange::Unchanged
            }
            Ok(policy) => {
                let new_hash = policy.hash.clone();
                *current = Ok(Arc::new(policy));
                PolicyChange::Changed {
                    old_hash: old_hash.unwrap_or_else(|| "invalid".into()),
                    new_hash,
                }
            }
            Err(e) => {
                let message = format!("{e:#}");
                let changed = current.as_ref().err() != Some(&message);
                *current = Err(message.clone());
                if changed {
                    PolicyChange::Broken(message)
                } else {
                    PolicyChange::Unchanged
                }
            }
        }
    }
}

/// The confirmed policy hashes in `path` (none when it is missing or unreadable).
fn read_confirmations(path: Option<&Path>) -> BTreeSet<String> {
    path.and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Where the confirmations of the workspace whose audit folder is `audit_dir` are kept:
/// beside that folder, outside the workspace, hidden from commands.
pub fn confirmations_path(audit_dir: &Path) -> PathBuf {
    let name = audit_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "audit".into());
    audit_dir.with_file_name(format!("{name}.policy-confirmations.json"))
}
