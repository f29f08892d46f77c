//! The CPU engine's worker, browser-free: how many threads it gets, and the replies its script
//! (`static/engine-worker.js`) sends, read as one typed value.

use serde::Deserialize;

/// Most threads the engine worker starts on its own (beyond this, decode is bound by memory
/// bandwidth, and each thread costs a stack and a worker).
pub const MAX_DEFAULT_THREADS: usize = 8;

/// Where the CPU engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On the page's own thread (no worker, or asked for with `threads: 0`).
    Page,
    /// In the engine worker on this many threads.
    Worker(usize),
}

/// The placement for a load: `requested` threads (`options.threads`; 0 = the page's own
/// thread), else every core the browser reports up to [`MAX_DEFAULT_THREADS`]; always the page
/// when this page cannot run the worker (`worker_usable`: a worker script was built and the
/// page is cross-origin isolated, so memory can be shared).
pub fn placement(requested: Option<usize>, cores: usize, worker_usable: bool) -> Placement {
    match requested {
        _ if !worker_usable => Placement::Page,
        Some(0) => Placement::Page,
        Some(n) => Placement::Worker(n),
        None => Placement::Worker(cores.clamp(1, MAX_DEFAULT_THREADS)),
    }
}

/// One reply of the engine worker (its `header`, JSON).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Reply {
    /// The module is instantiated and this many pool threads have started.
    Started {
        /// Pool threads.
        threads: usize,
    },
    /// The model is loaded.
    Loaded {
        /// Pool threads.
        threads: usize,
        /// KV cache positions.
        capacity: usize,
    },
    /// Tokens ran into the KV cache.
    Done,
    /// The most likely next token.
    Token {
        /// Its id.
        token: u32,
    },
    /// Every logit (in the reply's `logits`).
    Logits,
    /// The kernel self-test's summary.
    SelfTest {
        /// What agreed.
        text: String,
    },
    /// The request failed.
    Failed {
        /// Why, in words.
        message: String,
    },
}

impl Reply {
    /// Reads a header; anything unreadable is a failure that says so.
    pub fn parse(header: &str) -> Reply {
        serde_json::from_str(header).unwrap_or_else(|e| Reply::Failed {
            message: format!("the engine worker sent an unreadable reply ({e}): {header}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_gets_every_core_up_to_the_cap_unless_told_otherwise() {
        assert_eq!(placement(None, 2, true), Placement::Worker(2));
        assert_eq!(placement(None, 64, true), Placement::Worker(8));
        assert_eq!(placement(None, 0, true), Placement::Worker(1));
        assert_eq!(placement(Some(1), 16, true), Placement::Worker(1));
        assert_eq!(placement(Some(0), 16, true), Placement::Page);
    }

    #[test]
    fn a_page_that_cannot_share_memory_runs_the_engine_itself() {
        assert_eq!(placement(None, 8, false), Placement::Page);
        assert_eq!(placement(Some(4), 8, false), Placement::Page);
    }

    #[test]
    fn replies_read_as_typed_values_and_garbage_as_a_failure() {
        assert_eq!(
            Reply::parse(r#"{"kind":"loaded","threads":2,"capacity":1024}"#),
            Reply::Loaded {
                threads: 2,
                capacity: 1024
            }
        );
        assert_eq!(
            Reply::parse(r#"{"kind":"token","token":7}"#),
            Reply::Token { token: 7 }
        );
        assert_eq!(Reply::parse(r#"{"kind":"done"}"#), Reply::Done);
        let Reply::Failed { message } = Reply::parse(r#"{"kind":"dance"}"#) else {
            panic!("an unknown kind must be a failure");
        };
        assert!(message.contains("unreadable reply"), "{message}");
        assert!(message.contains("dance"), "{message}");
    }
}
