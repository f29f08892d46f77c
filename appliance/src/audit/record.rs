//! One audit record and its canonical hash.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// 1, 2, 3… with no gaps.
    pub seq: u64,
    /// RFC 3339 UTC time of the record.
    pub time: String,
    /// Who acted: the appliance itself or a session id (never a token).
    pub actor: String,
    /// What was done, e.g. `fs.write`.
    pub action: String,
    /// What it was done to, e.g. a workspace path.
    pub target: String,
    /// How it ended, e.g. `ok`, `attempt` or `error:409 conflict`.
    pub outcome: String,
    /// `hash` of the previous record.
    pub prev_hash: String,
    /// SHA-256 of this record's canonical form.
    pub hash: String,
}

/// The hashed fields, in a fixed order.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    time: &'a str,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    outcome: &'a str,
    prev_hash: &'a str,
}

impl AuditRecord {
    /// SHA-256 (hex) over the canonical JSON of every field but `hash`.
    pub fn compute_hash(&self) -> String {
        let canonical = Canonical {
            seq: self.seq,
            time: &self.time,
            actor: &self.actor,
            action: &self.action,
            target: &self.target,
            outcome: &self.outcome,
            prev_hash: &self.prev_hash,
        };
        let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }
}
