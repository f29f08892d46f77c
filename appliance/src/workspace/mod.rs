//! One workspace folder on disk, reached only through confined, versioned operations.

pub mod files;
pub mod paths;
pub mod tree;
pub mod version;

pub use files::{FileError, FileText, Workspace};
pub use paths::{PathError, WorkspaceRoot};
