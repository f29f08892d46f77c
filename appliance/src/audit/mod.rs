//! The tamper-evident audit log: every authenticated action is appended as one JSON line
//! chained to the previous one by SHA-256, fsynced before the action is acknowledged, with
//! a checkpoint file (last sequence number and hash) that exposes a truncated tail.

pub mod checkpoint;
pub mod clock;
pub mod export;
pub mod layer;
pub mod log;
pub mod record;
pub mod segments;
pub mod verify;

pub use checkpoint::{AuditKey, Checkpoint};
pub use log::{AuditLog, Entry, Rotation};
pub use record::AuditRecord;
pub use verify::{VerifyReport, verify};

/// File name of the log inside its folder.
pub const LOG_FILE: &str = "audit.jsonl";
/// File name of the checkpoint inside its folder.
pub const CHECKPOINT_FILE: &str = "audit.checkpoint";
/// Action of a record that says the log was tampered with (verification fails on it).
pub const ALARM_ACTION: &str = "audit.alarm";
/// Action of a record that says the clock went back (a warning, not a failure).
pub const CLOCK_ACTION: &str = "audit.clock";
