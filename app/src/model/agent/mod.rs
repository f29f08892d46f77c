//! The agent's browser-free rules: the tool table the model is given and every call is
//! checked against (`tools`), one run as a state machine (`run`), and the per-hunk review of
//! an edit (`hunks`).

pub mod hunks;
pub mod run;
pub mod tools;
