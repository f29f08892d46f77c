//! The appliance's record of pending and granted approvals. A call is identified by its
//! digest (tool plus the exact arguments that matter); an approval id is issued for one
//! digest, can be granted once by a person, and is consumed by the one call it names.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use airlock_protocol::approvals::{Answer, PendingApproval};
use sha2::{Digest, Sha256};

/// How long an approval waits for a decision and then for its call.
pub const APPROVAL_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Most approvals pending at once (older ones are dropped first).
const MAX_PENDING: usize = 256;

struct Pending {
    tool: String,
    digest: String,
    shown: String,
    granted: bool,
    issued: Instant,
}

/// Pending approvals and this session's "always" grants.
#[derive(Default)]
pub struct Approvals {
    pending: Mutex<HashMap<String, Pending>>,
    always: Mutex<HashSet<(String, String)>>,
}

/// The digest of a call: the tool and its arguments as JSON (the approval id excluded).
pub fn digest(tool: &str, args: &serde_json::Value) -> String {
    let mut hash = Sha256::new();
    hash.update(tool.as_bytes());
    hash.update([0]);
    hash.update(args.to_string().as_bytes());
    hex::encode(hash.finalize())
}

impl Approvals {
    /// Whether `tool` with `digest` may run: granted for the session, or `approval` names a
    /// granted approval for exactly this call (which is then used up).
    pub fn admit(&self, tool: &str, digest: &str, approval: Option<&str>) -> bool {
        if self
            .always
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(tool.to_owned(), digest.to_owned()))
        {
            return true;
        }
        let Some(id) = approval else { return false };
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let fits = pending.get(id).is_some_and(|p| {
            p.granted
                && p.tool == tool
                && p.digest == digest
                && p.issued.elapsed() < APPROVAL_LIFETIME
        });
        if fits {
            pending.remove(id);
        }
        fits
    }

    /// Issues a pending approval for a call, showing `shown` to the person.
    pub fn request(&self, tool: &str, digest: &str, shown: String) -> PendingApproval {
        let mut bytes = [0u8; 16];
        let _ = getrandom::fill(&mut bytes);
        let id = hex::encode(bytes);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, p| p.issued.elapsed() < APPROVAL_LIFETIME);
        if pending.len() >= MAX_PENDING
            && let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.issued)
                .map(|(k, _)| k.clone())
        {
            pending.remove(&oldest);
        }
        pending.insert(
            id.clone(),
            Pending {
                tool: tool.to_owned(),
                digest: digest.to_owned(),
                shown: shown.clone(),
                granted: false,
                issued: Instant::now(),
            },
        );
        PendingApproval {
            id,
            tool: tool.to_owned(),
            shown,
        }
    }

    /// Records a person's answer; returns what was decided on (tool, shown), or `None` for an
    /// unknown or expired id.
    pub fn decide(&self, id: &str, answer: Answer) -> Option<(String, String)> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let entry = pending.get_mut(id)?;
        if entry.issued.elapsed() >= APPROVAL_LIFETIME {
            pending.remove(id);
            return None;
        }
        let decided = (entry.tool.clone(), entry.shown.clone());
        match answer {
            Answer::Approve => entry.granted = true,
            Answer::Deny => {
                pending.remove(id);
            }
            Answer::AlwaysThisSession => {
                entry.granted = true;
                self.always
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((entry.tool.clone(), entry.digest.clone()));
            }
        }
        Some(decided)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_runs_exactly_its_call_once() {
        let approvals = Approvals::default();
        let ls = digest("run_command", &serde_json::json!({"command": "ls"}));
        let rm = digest("run_command", &serde_json::json!({"command": "rm -rf ."}));
        let pending = approvals.request("run_command", &ls, "ls".into());
        assert!(
            !approvals.admit("run_command", &ls, Some(&pending.id)),
            "not granted yet"
        );
        approvals.decide(&pending.id, Answer::Approve).unwrap();
        assert!(
            !approvals.admit("run_command", &rm, Some(&pending.id)),
            "another command"
        );
        assert!(
            !approvals.admit("git", &ls, Some(&pending.id)),
            "another tool"
        );
        assert!(approvals.admit("run_command", &ls, Some(&pending.id)));
        assert!(
            !approvals.admit("run_command", &ls, Some(&pending.id)),
            "used up"
        );
        let denied = approvals.request("run_command", &ls, "ls".into());
        approvals.decide(&denied.id, Answer::Deny).unwrap();
        assert!(!approvals.admit("run_command", &ls, Some(&denied.id)));
        assert!(approvals.decide("nope", Answer::Approve).is_none());
        let always = approvals.request("run_command", &ls, "ls".into());
        approvals
            .decide(&always.id, Answer::AlwaysThisSession)
            .unwrap();
        assert!(approvals.admit("run_command", &ls, None));
        assert!(!approvals.admit("run_command", &rm, None));
    }
}
