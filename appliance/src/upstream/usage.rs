//! Token counts of a relayed answer, read from the bytes as they pass: the `usage` object
//! OpenAI-compatible servers send (in the JSON answer, or in a stream's last event when
//! `stream_options.include_usage` is set), else the number of streamed text pieces.

use serde::Deserialize;

/// What the audit record says about an answer's size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, as the server counted them.
    pub prompt_tokens: Option<u64>,
    /// Written tokens, as the server counted them.
    pub completion_tokens: Option<u64>,
    /// Streamed events that carried text (an estimate of tokens when the server sends no usage).
    pub text_events: u64,
}

#[derive(Deserialize)]
struct Counts {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    usage: Option<Counts>,
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

/// Reads a server-sent-event stream piece by piece (lines may be split across pieces).
#[derive(Default)]
pub struct UsageTally {
    line: Vec<u8>,
    usage: Usage,
}

/// Longest event line kept for parsing; longer ones are skipped (never buffered without end).
const MAX_LINE: usize = 1 << 20;

impl UsageTally {
    /// Feeds the next piece of a stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.event_line(&line);
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            }
        }
    }

    /// Reads a whole (non-streamed) JSON answer.
    pub fn whole(&mut self, body: &[u8]) {
        if let Ok(event) = serde_json::from_slice::<Event>(body) {
            self.take(event);
        }
    }

    /// The counts so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    fn event_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        if let Ok(event) = serde_json::from_slice::<Event>(data.trim_ascii()) {
            self.take(event);
        }
    }

    fn take(&mut self, event: Event) {
        if let Some(counts) = event.usage {
            self.usage.prompt_tokens = counts.prompt_tokens.or(self.usage.prompt_tokens);
            self.usage.completion_tokens =
                counts.completion_tokens.or(self.usage.completion_tokens);
        }
        let texts = event.choices.iter().any(|c| {
            c.text.as_deref().is_some_and(|t| !t.is_empty())
                || c.delta
                    .as_ref()
                    .and_then(|d| d.content.as_deref())
                    .is_some_and(|t| !t.is_empty())
        });
        self.usage.text_events += u64::from(texts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_streamed_pieces_and_usage_across_split_lines() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{}}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n"
        );
        let mut tally = UsageTally::default();
        for piece in stream.as_bytes().chunks(7) {
            tally.feed(piece);
        }
        assert_eq!(
            tally.usage(),
            Usage {
                prompt_tokens: Some(12),
                completion_tokens: Some(2),
                text_events: 2
            }
        );
        let mut whole = UsageTally::default();
        whole.whole(
            br#"{"choices":[{"text":"x"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#,
        );
        assert_eq!(whole.usage().completion_tokens, Some(1));
        let mut junk = UsageTally::default();
        junk.feed(b"data: {not json\n: comment\n\n");
        assert_eq!(junk.usage(), Usage::default());
    }
}
