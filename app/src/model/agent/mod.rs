//! The agent's browser-free rules: one run as a state machine (`run`) and the per-hunk review
//! of an edit (`hunks`). The tool table the model is given and every call is checked against
//! is `airlock_protocol::tools`, shared with the appliance.

pub mod hunks;
pub mod run;

pub use airlock_protocol::tools;
