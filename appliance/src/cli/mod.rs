//! The `airlock` command's subcommands, one module each.

pub mod audit;
pub mod evidence;
pub mod models;
pub mod serve;
