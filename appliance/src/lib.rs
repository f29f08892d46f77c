//! The Airlock appliance: a loopback-only HTTP server that serves the embedded IDE and the
//! workspace API. Every request passes the layers in [`layers`] before any handler runs.

pub mod api;
pub mod assets;
pub mod audit;
pub mod bind;
pub mod build_info;
pub mod chats;
pub mod egress;
pub mod error;
pub mod evidence;
pub mod http_server;
pub mod layers;
pub mod models;
pub mod origins;
pub mod policy;
pub mod sandbox;
pub mod secret;
pub mod server;
pub mod tools;
pub mod upstream;
pub mod workspace;

pub use server::{Appliance, ServeOptions};
