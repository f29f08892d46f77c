//! Relays an upstream's answer to the browser as it arrives — each server-sent event goes on
//! at once — within the call's deadline and size cap, counting tokens on the way, and reports
//! how it ended exactly once (finished, cut off, timed out, broken, or dropped by the page).

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::usage::{Usage, UsageTally};

/// How a relayed answer ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEnd {
    /// The whole answer passed.
    Complete,
    /// Longer than the cap; cut off.
    TooLarge,
    /// Past the call's deadline; cut off.
    TimedOut,
    /// The upstream broke the connection.
    Broken(String),
    /// The page went away (Stop, a closed tab) before the end.
    Cancelled,
}

/// What the audit record of one call says.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Token counts.
    pub usage: Usage,
    /// Bytes relayed.
    pub bytes: u64,
    /// How it ended.
    pub end: RelayEnd,
    /// From the request to the end.
    pub elapsed: Duration,
}

/// Called once when the relay ends.
pub type OnEnd = Box<dyn FnOnce(Summary) + Send>;

struct Relay {
    body: Incoming,
    tally: UsageTally,
    bytes: u64,
    limit: usize,
    deadline: Instant,
    started: Instant,
    streaming: bool,
    whole: Vec<u8>,
    on_end: Option<OnEnd>,
}

/// Largest JSON answer kept to read its token counts from.
const MAX_COUNTED_JSON: usize = 1 << 20;

impl Relay {
    fn finish(&mut self, end: RelayEnd) {
        if let Some(on_end) = self.on_end.take() {
            if !self.streaming {
                self.tally.whole(&self.whole);
            }
            on_end(Summary {
                usage: self.tally.usage(),
                bytes: self.bytes,
                end,
                elapsed: self.started.elapsed(),
            });
        }
    }

    /// The last piece after a cut: an SSE error event the page shows, or a broken body.
    fn cut(&mut self, end: RelayEnd, message: String) -> Option<io::Result<Bytes>> {
        self.finish(end);
        if self.streaming {
            let event = serde_json::json!({ "error": { "message": message, "type": "airlock" } });
            Some(Ok(Bytes::from(format!("data: {event}\n\n"))))
        } else {
            Some(Err(io::Error::other(message)))
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.finish(RelayEnd::Cancelled);
    }
}

/// The answer's body as a stream for the page; `streaming` is true for `text/event-stream`.
pub fn relay(
    body: Incoming,
    limit: usize,
    started: Instant,
    deadline: Instant,
    streaming: bool,
    on_end: OnEnd,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let relay = Relay {
        body,
        tally: UsageTally::default(),
        bytes: 0,
        limit,
        deadline,
        started,
        streaming,
        whole: Vec::new(),
        on_end: Some(on_end),
    };
    futures_util::stream::unfold(relay, |mut relay| async move {
        loop {
            relay.on_end.as_ref()?;
            let next = tokio::time::timeout_at(relay.deadline.into(), relay.body.frame()).await;
            let piece = match next {
                Err(_) => relay.cut(
                    RelayEnd::TimedOut,
                    "the team server took longer than the call's time limit; the answer was cut off"
                        .into(),
                ),
                Ok(None) => {
                    relay.finish(RelayEnd::Complete);
                    None
                }
                Ok(Some(Err(e))) => relay.cut(
                    RelayEnd::Broken(e.to_string()),
                    format!("the team server broke off the answer: {e}"),
                ),
                Ok(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else { continue };
                    if relay.bytes as usize + data.len() > relay.limit {
                        relay.cut(
                            RelayEnd::TooLarge,
                            format!(
                                "the answer passed the {} byte limit and was cut off",
                                relay.limit
                            ),
                        )
                    } else {
                        relay.bytes += data.len() as u64;
                        if relay.streaming {
                            relay.tally.feed(&data);
                        } else if relay.whole.len() + data.len() <= MAX_COUNTED_JSON {
                            relay.whole.extend_from_slice(&data);
                        }
                        Some(Ok(data))
                    }
                }
            };
            return piece.map(|p| (p, relay));
        }
    })
}
