//! Plain data the IDE keeps in signals: no browser APIs here, so it is unit-tested natively.

pub mod agent;
pub mod airgap;
pub mod chat;
pub mod completion;
pub mod engine_choice;
pub mod engine_worker;
pub mod errors;
pub mod fit_hint;
pub mod markdown;
pub mod tabs;
pub mod tree;
