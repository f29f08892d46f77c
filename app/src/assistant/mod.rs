//! The assistant's browser side: one "generate" interface for chat and inline completion
//! (`backend`), the conversation client (`chats`), the audit records (`audit`), and the
//! editor's completion provider (`inline`). Browser-free rules live in `crate::model`.

pub mod audit;
pub mod backend;
pub mod chats;
pub mod inline;
