//! Schema-constrained tool calls: once the model has written `<tool_call>`, every token it
//! may pick next must keep the text a valid prefix of
//! `{"name": "TOOL", "arguments": {…}}</tool_call>` where TOOL is a declared tool and the
//! arguments follow that tool's JSON schema (its keys, each once; strings, booleans,
//! whole numbers, lists of strings; the required keys before the object closes). Outside a
//! call the model writes freely, as llama.cpp's lazy tool grammars do. An answer that opens
//! with `{` is a call written bare (small models often drop the tags): the object is held to
//! the same language and the answer ends with it.
//!
//! [`Matcher`] is a byte-level recognizer of that language; [`Constraint::mask`] tests the
//! most likely tokens' bytes against a copy of it and leaves only valid ones, so even a 0.5B
//! model cannot write an unparsable call. A hand-written recognizer rather than `llguidance`:
//! the language is one fixed JSON shape over a schema subset, this builds for wasm32 with no
//! new dependency, and it costs a few candidate checks per token (see `benches/`).

use serde_json::Value;

use crate::tool_calls::{CLOSE, OPEN};

/// How an argument's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A JSON string.
    Text,
    /// `true` or `false`.
    Flag,
    /// A whole number ≥ 0.
    Count,
    /// A list of JSON strings.
    Words,
}

/// One tool's name and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolShape {
    /// The name.
    pub name: String,
    /// Its arguments: name, kind, required.
    pub params: Vec<(String, ValueKind, bool)>,
}

/// The tools a call may name: the language the constraint accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolGrammar {
    /// The tools.
    pub tools: Vec<ToolShape>,
    /// The answer starts inside a call (the prompt ends with `<tool_call>`): used when a model
    /// meant to call a tool but wrote the call in another form, and is asked again.
    pub forced: bool,
}

impl ToolGrammar {
    /// Reads OpenAI function declarations (`{"type": "function", "function": {"name",
    /// "parameters"}}`); a schema this constraint cannot express is an error.
    pub fn from_declarations(declarations: &[Value]) -> Result<Self, String> {
        let mut tools = Vec::new();
        for declaration in declarations {
            let function = declaration.get("function").unwrap_or(declaration);
            let name = function["name"]
                .as_str()
                .ok_or("a tool declaration has no name")?
                .to_owned();
            let schema = &function["parameters"];
            let required: Vec<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut params = Vec::new();
            for (key, property) in schema["properties"].as_object().into_iter().flatten() {
                let kind = match (
                    property["type"].as_str(),
                    property["items"]["type"].as_str(),
                ) {
                    (Some("string"), _) => ValueKind::Text,
                    (Some("boolean"), _) => ValueKind::Flag,
                    (Some("integer"), _) => ValueKind::Count,
                    (Some("array"), Some("string")) => ValueKind::Words,
                    _ => {
                        return Err(format!(
                            "{name}.{key}: a type the constraint cannot express"
                        ));
                    }
                };
                params.push((key.clone(), kind, required.contains(&key.as_str())));
            }
            if params.len() > 32 {
                return Err(format!("{name}: more than 32 arguments"));
            }
            tools.push(ToolShape { name, params });
        }
        if tools.is_empty() {
            return Err("no tools declared".into());
        }
        Ok(Self {
            tools,
            forced: false,
        })
    }
}

/// Most whitespace between two tokens of the call (keeps a model from idling in spaces).
const MAX_WS: u8 = 16;

/// Where in the call the recognizer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `{` opening the call.
    Open,
    /// The literal `"name"`.
    NameKey,
    /// `:` after it.
    NameColon,
    /// The opening `"` of the tool's name.
    NameQuote,
    /// The name's characters, then `"`.
    Name,
    /// `,` after the name.
    NameComma,
    /// The literal `"arguments"`.
    ArgsKey,
    /// `:` after it.
    ArgsColon,
    /// `{` opening the arguments.
    ArgsOpen,
    /// A key's `"`, or `}` (only right after `{`).
    KeyOrEnd,
    /// A key's `"` (after a `,`).
    KeyQuote,
    /// A key's characters, then `"`.
    Key,
    /// `:` after a key.
    KeyColon,
    /// A value of the key's kind.
    Value(ValueKind),
    /// `,` or `}` after a value.
    AfterValue,
    /// `}` closing the call object.
    CallEnd,
    /// The literal `</tool_call>`.
    Close,
    /// The call is complete.
    Done,
}

/// Inside a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    /// Nothing of the value yet.
    Start,
    /// Inside a string; `escape` counts what an escape still needs (1 after `\`, hex digits
    /// left of a `\u`).
    Str { escape: u8 },
    /// `true`/`false`: which, and how much matched.
    Word { word: &'static [u8], at: u8 },
    /// Digits so far (a leading `0` stands alone).
    Digits { zero: bool },
    /// In a list: `[` seen; `item` whether a string may come now, `comma` whether one must.
    List {
        want_item: bool,
        after_item: bool,
        first: bool,
    },
    /// In a list's string.
    ListStr { escape: u8 },
}

/// A byte-level recognizer of one call's text after `<tool_call>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher<'g> {
    grammar: &'g ToolGrammar,
    phase: Phase,
    inner: Inner,
    /// Progress in a literal, or the name or key written so far.
    buf: Vec<u8>,
    ws: u8,
    tool: usize,
    key: usize,
    used: u32,
    /// Written without the tags: the call ends with its object's `}`.
    bare: bool,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\t' | b'\r')
}

impl<'g> Matcher<'g> {
    /// A recognizer at the start of a call's body.
    pub fn new(grammar: &'g ToolGrammar) -> Self {
        Self {
            grammar,
            phase: Phase::Open,
            inner: Inner::Start,
            buf: Vec::new(),
            ws: 0,
            tool: 0,
            key: 0,
            used: 0,
            bare: false,
        }
    }

    /// A recognizer of a call written bare: the object alone, no `</tool_call>` after it.
    pub fn bare(grammar: &'g ToolGrammar) -> Self {
        Self {
            bare: true,
            ..Self::new(grammar)
        }
    }

    /// Whether the call (with its `</tool_call>`) is complete.
    pub fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Feeds `bytes`; false (and the matcher is then unusable) if they leave the language.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.byte(b))
    }

    fn params(&self) -> &'g [(String, ValueKind, bool)] {
        &self.grammar.tools[self.tool].params
    }

    /// Whitespace allowed between tokens of the call.
    fn gap(&mut self, b: u8) -> bool {
        if is_ws(b) && self.ws < MAX_WS {
            self.ws += 1;
            return true;
        }
        false
    }

    /// Matches `b` against `literal` at `buf.len()`; moves to `then` when complete.
    fn literal(&mut self, b: u8, literal: &[u8], then: Phase) -> bool {
        if self.buf.is_empty() && self.gap(b) {
            return true;
        }
        if literal.get(self.buf.len()) != Some(&b) {
            return false;
        }
        self.buf.push(b);
        if self.buf.len() == literal.len() {
            self.go(then);
        }
        true
    }

    fn go(&mut self, phase: Phase) {
        self.phase = phase;
        self.inner = Inner::Start;
        self.buf.clear();
        self.ws = 0;
    }

    fn expect(&mut self, b: u8, wanted: u8, then: Phase) -> bool {
        if b == wanted {
            self.go(then);
            return true;
        }
        self.gap(b)
    }

    fn any_unused(&self) -> bool {
        (0..self.params().len()).any(|i| self.used & (1 << i) == 0)
    }

    fn required_done(&self) -> bool {
        self.params()
            .iter()
            .enumerate()
            .all(|(i, p)| !p.2 || self.used & (1 << i) != 0)
    }

    fn byte(&mut self, b: u8) -> bool {
        match self.phase {
            Phase::Open => self.expect(b, b'{', Phase::NameKey),
            Phase::NameKey => self.literal(b, b"\"name\"", Phase::NameColon),
            Phase::NameColon => self.expect(b, b':', Phase::NameQuote),
            Phase::NameQuote => self.expect(b, b'"', Phase::Name),
            Phase::Name => {
                if b == b'"' {
                    let Some(i) = self
                        .grammar
                        .tools
                        .iter()
                        .position(|t| t.name.as_bytes() == self.buf)
                    else {
                        return false;
                    };
                    self.tool = i;
                    self.go(Phase::NameComma);
                    return true;
                }
                self.buf.push(b);
                self.grammar
                    .tools
                    .iter()
                    .any(|t| t.name.as_bytes().starts_with(&self.buf))
            }
            Phase::NameComma => self.expect(b, b',', Phase::ArgsKey),
            Phase::ArgsKey => self.literal(b, b"\"arguments\"", Phase::ArgsColon),
            Phase::ArgsColon => self.expect(b, b':', Phase::ArgsOpen),
            Phase::ArgsOpen => self.expect(b, b'{', Phase::KeyOrEnd),
            Phase::KeyOrEnd => {
                if b == b'}' {
                    if !self.required_done() {
                        return false;
                    }
                    self.go(Phase::CallEnd);
                    return true;
                }
                if b == b'"' && !self.any_unused() {
                    return false;
                }
                self.expect(b, b'"', Phase::Key)
            }
            Phase::KeyQuote => self.expect(b, b'"', Phase::Key),
            Phase::Key => {
                let params = self.params();
                let unused = |i: usize| self.used & (1 << i) == 0;
                if b == b'"' {
                    let Some(i) = params
                        .iter()
                        .position(|p| p.0.as_bytes() == self.buf)
                        .filter(|&i| unused(i))
                    else {
                        return false;
                    };
                    self.key = i;
                    self.used |= 1 << i;
                    self.go(Phase::KeyColon);
                    return true;
                }
                self.buf.push(b);
                params
                    .iter()
                    .enumerate()
                    .any(|(i, p)| unused(i) && p.0.as_bytes().starts_with(&self.buf))
            }
            Phase::KeyColon => {
                let kind = self.params()[self.key].1;
                self.expect(b, b':', Phase::Value(kind))
            }
            Phase::Value(kind) => self.value(kind, b),
            Phase::AfterValue => match b {
                b',' if self.any_unused() => {
                    self.go(Phase::KeyQuote);
                    true
                }
                b'}' if self.required_done() => {
                    self.go(Phase::CallEnd);
                    true
                }
                _ => self.gap(b),
            },
            Phase::CallEnd => {
                let then = if self.bare { Phase::Done } else { Phase::Close };
                self.expect(b, b'}', then)
            }
            Phase::Close => self.literal(b, CLOSE.as_bytes(), Phase::Done),
            Phase::Done => false,
        }
    }

    /// One byte of a string's body; `None` when the string ends.
    fn string_byte(escape: &mut u8, b: u8) -> Option<bool> {
        if *escape == 1 {
            *escape = 0;
            return Some(match b {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => true,
                b'u' => {
                    *escape = 5;
                    true
                }
                _ => false,
            });
        }
        if *escape > 1 {
            *escape -= 1;
            if *escape == 1 {
                *escape = 0;
            }
            return Some(b.is_ascii_hexdigit());
        }
        match b {
            b'"' => None,
            b'\\' => {
                *escape = 1;
                Some(true)
            }
            0..=0x1f => Some(false),
            _ => Some(true),
        }
    }

    fn value(&mut self, kind: ValueKind, b: u8) -> bool {
        match (kind, self.inner) {
            (_, Inner::Start) => match (kind, b) {
                (ValueKind::Text, b'"') => {
                    self.inner = Inner::Str { escape: 0 };
                    true
                }
                (ValueKind::Flag, b't') => {
                    self.inner = Inner::Word {
                        word: b"true",
                        at: 1,
                    };
                    true
                }
                (ValueKind::Flag, b'f') => {
                    self.inner = Inner::Word {
                        word: b"false",
                        at: 1,
                    };
                    true
                }
                (ValueKind::Count, b'0'..=b'9') => {
                    self.inner = Inner::Digits { zero: b == b'0' };
                    true
                }
                (ValueKind::Words, b'[') => {
                    self.inner = Inner::List {
                        want_item: true,
                        after_item: false,
                        first: true,
                    };
                    self.ws = 0;
                    true
                }
                _ => self.gap(b),
            },
            (_, Inner::Str { mut escape }) => match Self::string_byte(&mut escape, b) {
                None => {
                    self.go(Phase::AfterValue);
                    true
                }
                Some(ok) => {
                    self.inner = Inner::Str { escape };
                    ok
                }
            },
            (_, Inner::Word { word, at }) => {
                if word.get(at as usize) != Some(&b) {
                    return false;
                }
                if at as usize + 1 == word.len() {
                    self.go(Phase::AfterValue);
                } else {
                    self.inner = Inner::Word { word, at: at + 1 };
                }
                true
            }
            (_, Inner::Digits { zero }) => {
                if b.is_ascii_digit() {
                    return !zero;
                }
                // The number ended: this byte belongs to what follows it.
                self.go(Phase::AfterValue);
                self.byte(b)
            }
            (
                _,
                Inner::List {
                    want_item,
                    after_item,
                    first,
                },
            ) => match b {
                b'"' if want_item => {
                    self.inner = Inner::ListStr { escape: 0 };
                    true
                }
                b']' if after_item || first => {
                    self.go(Phase::AfterValue);
                    true
                }
                b',' if after_item => {
                    self.inner = Inner::List {
                        want_item: true,
                        after_item: false,
                        first: false,
                    };
                    self.ws = 0;
                    true
                }
                _ => self.gap(b),
            },
            (_, Inner::ListStr { mut escape }) => match Self::string_byte(&mut escape, b) {
                None => {
                    self.inner = Inner::List {
                        want_item: false,
                        after_item: true,
                        first: false,
                    };
                    self.ws = 0;
                    true
                }
                Some(ok) => {
                    self.inner = Inner::ListStr { escape };
                    ok
                }
            },
        }
    }
}

/// The constraint over a generation: free text until `<tool_call>`, then the call's
/// language until `</tool_call>`, then free again.
#[derive(Debug, Clone)]
pub struct Constraint<'g> {
    grammar: &'g ToolGrammar,
    /// The recognizer while inside a call.
    call: Option<Matcher<'g>>,
    /// The end of the text so far (to spot `<tool_call>` split over tokens).
    tail: Vec<u8>,
    /// Something other than whitespace has been written.
    started: bool,
    /// A bare call is complete: only the end of the answer may follow.
    ended: bool,
}

/// How many of the most likely tokens are tried before the whole vocabulary is.
const FIRST_TRY: usize = 64;

impl<'g> Constraint<'g> {
    /// A constraint for `grammar`: outside any call, or inside one when the grammar is
    /// `forced`.
    pub fn new(grammar: &'g ToolGrammar) -> Self {
        Self {
            grammar,
            call: grammar.forced.then(|| Matcher::new(grammar)),
            tail: Vec::new(),
            started: grammar.forced,
            ended: false,
        }
    }

    /// Whether a call is being written or a bare one has ended the answer (only then is
    /// anything masked).
    pub fn in_call(&self) -> bool {
        self.call.is_some() || self.ended
    }

    /// Whether token `bytes` (or a stop token, `None`) may come next.
    pub fn allows(&self, bytes: Option<&[u8]>) -> bool {
        if self.ended {
            return bytes.is_none();
        }
        match (&self.call, bytes) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(m), Some(bytes)) => {
                let mut trial = m.clone();
                trial.feed(bytes)
            }
        }
    }

    /// Sets every logit whose token may not come next to −∞, trying the most likely tokens
    /// first; returns how many tokens were checked. Outside a call nothing is changed.
    pub fn mask(
        &self,
        logits: &mut [f32],
        token_bytes: &dyn Fn(u32) -> Vec<u8>,
        is_stop: &dyn Fn(u32) -> bool,
    ) -> usize {
        if !self.in_call() {
            return 0;
        }
        let check = |t: u32| {
            if is_stop(t) {
                self.allows(None)
            } else {
                let bytes = token_bytes(t);
                !bytes.is_empty() && self.allows(Some(&bytes))
            }
        };
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        let first = FIRST_TRY.min(order.len());
        if first < order.len() {
            order.select_nth_unstable_by(first, |a, b| {
                logits[*b as usize].total_cmp(&logits[*a as usize])
            });
        }
        let top: Vec<u32> = order[..first].to_vec();
        let allowed: Vec<u32> = top.iter().copied().filter(|&t| check(t)).collect();
        let checked;
        let keep: Vec<u32> = if allowed.is_empty() {
            checked = logits.len();
            (0..logits.len() as u32).filter(|&t| check(t)).collect()
        } else {
            checked = first;
            allowed
        };
        let mut kept = vec![false; logits.len()];
        for t in keep {
            kept[t as usize] = true;
        }
        for (l, k) in logits.iter_mut().zip(kept) {
            if !k {
                *l = f32::NEG_INFINITY;
            }
        }
        checked
    }

    /// Records the token chosen.
    pub fn accept(&mut self, bytes: &[u8]) {
        match &mut self.call {
            Some(m) => {
                m.feed(bytes);
                if m.done() {
                    self.ended = m.bare;
                    self.call = None;
                    self.tail.clear();
                }
            }
            None if !self.started => {
                let text = bytes.trim_ascii_start();
                if text.is_empty() {
                    return;
                }
                self.started = true;
                let mut m = Matcher::bare(self.grammar);
                if text[0] == b'{' && m.feed(text) {
                    self.call = Some(m);
                } else {
                    self.accept(bytes);
                }
            }
            None => {
                self.tail.extend_from_slice(bytes);
                if let Some(at) = find(&self.tail, OPEN.as_bytes()) {
                    let after = self.tail[at + OPEN.len()..].to_vec();
                    let mut m = Matcher::new(self.grammar);
                    self.tail.clear();
                    // A token may carry text past the trigger; it must fit the call.
                    if m.feed(&after) {
                        self.call = Some(m);
                    }
                } else if self.tail.len() > OPEN.len() {
                    self.tail.drain(..self.tail.len() - OPEN.len());
                }
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::Rng;
    use serde_json::json;

    fn grammar() -> ToolGrammar {
        let declarations = vec![
            json!({"type": "function", "function": {"name": "read_file", "parameters": {
                "type": "object", "required": ["path"],
                "properties": {"path": {"type": "string"}}}}}),
            json!({"type": "function", "function": {"name": "run_command", "parameters": {
                "type": "object", "required": ["command"],
                "properties": {"command": {"type": "string"}, "timeout_secs": {"type": "integer"}}}}}),
            json!({"type": "function", "function": {"name": "git", "parameters": {
                "type": "object", "required": ["args"],
                "properties": {"args": {"type": "array", "items": {"type": "string"}},
                               "quiet": {"type": "boolean"}}}}}),
        ];
        ToolGrammar::from_declarations(&declarations).unwrap()
    }

    fn accepts(text: &str) -> bool {
        let g = grammar();
        let mut m = Matcher::new(&g);
        m.feed(text.as_bytes()) && m.done()
    }

    fn prefix_ok(text: &str) -> bool {
        let g = grammar();
        Matcher::new(&g).feed(text.as_bytes())
    }

    #[test]
    fn the_language_is_the_schemas_calls() {
        for good in [
            "{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.py\"}}</tool_call>",
            "\n{\"name\":\"run_command\",\"arguments\":{\"command\":\"ls \\\"x\\\" \\u00e9\",\"timeout_secs\":30}}\n</tool_call>",
            "{\"name\": \"git\", \"arguments\": {\"quiet\": true, \"args\": [\"status\", \"-s\"]}}</tool_call>",
            "{\"name\": \"git\", \"arguments\": {\"args\": []}}</tool_call>",
            "{\"name\": \"run_command\", \"arguments\": {\"timeout_secs\": 0, \"command\": \"é\"}}</tool_call>",
        ] {
            assert!(accepts(good), "{good}");
        }
        for bad in [
            "{\"name\": \"fetch_url\"",
            "{\"name\": \"read_file\", \"arguments\": {}}",
            "{\"name\": \"read_file\", \"arguments\": {\"path\": 3",
            "{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\", \"path\"",
            "{\"name\": \"read_file\", \"arguments\": {\"approval\"",
            "{\"name\": \"run_command\", \"arguments\": {\"command\": \"x\", \"timeout_secs\": 01",
            "{\"name\": \"run_command\", \"arguments\": {\"command\": \"x\", \"timeout_secs\": -1",
            "{\"name\": \"git\", \"arguments\": {\"args\": [\"a\",]",
            "{\"name\": \"git\", \"arguments\": {\"args\": [1",
            "{\"name\": \"git\", \"arguments\": {\"quiet\": tru}",
            "{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\nb\"",
            "{\"name\": \"read_file\", \"arguments\": {\"path\": \"\\x\"",
            "{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\",}",
        ] {
            assert!(!prefix_ok(bad), "{bad}");
        }
        assert!(prefix_ok("{\"name\": \"re"));
        assert!(!accepts("{\"name\": \"re"), "a prefix is not a call");
        assert!(!prefix_ok(&" ".repeat(MAX_WS as usize + 1)));
    }

    /// Pieces a tokenizer might have: JSON punctuation, names, keys, words, junk.
    const VOCAB: &[&str] = &[
        "{",
        "}",
        "{\"",
        "\"",
        "\":",
        "\": ",
        ", ",
        ",",
        ":",
        " ",
        "\n",
        "[",
        "]",
        "[\"",
        "\"]",
        "name",
        "\"name\"",
        "arguments",
        "\"arguments\"",
        "read",
        "_file",
        "read_file",
        "run",
        "_command",
        "command",
        "git",
        "args",
        "path",
        "timeout",
        "_secs",
        "quiet",
        "true",
        "fal",
        "se",
        "0",
        "1",
        "42",
        "-",
        "\\",
        "\\n",
        "\\u",
        "00e9",
        "a.py",
        "ls",
        " -la",
        "x",
        "é",
        "</tool_call>",
        "</",
        "tool",
        "_call",
        ">",
        "<tool_call>",
        "hello",
        "\"}",
        "}}",
        "\"}}",
    ];

    #[test]
    fn every_token_sampled_keeps_the_text_a_valid_prefix() {
        let g = grammar();
        let bytes = |t: u32| VOCAB[t as usize].as_bytes().to_vec();
        let stop = VOCAB.len() as u32; // one extra id: the end-of-turn token
        let is_stop = |t: u32| t == stop;
        let mut rng = Rng::new(7);
        let mut completed = 0;
        for _ in 0..300 {
            let mut constraint = Constraint::new(&g);
            constraint.accept(b"<tool_call>");
            assert!(constraint.in_call());
            let mut text = String::new();
            for _ in 0..400 {
                let mut logits: Vec<f32> = (0..=stop).map(|_| rng.next_f32() * 10.0).collect();
                constraint.mask(&mut logits, &bytes, &is_stop);
                let token = crate::sampling::argmax(&logits);
                assert!(
                    logits[token as usize].is_finite(),
                    "some token is always allowed after {text:?}"
                );
                assert!(!is_stop(token), "no end of turn inside a call");
                text.push_str(VOCAB[token as usize]);
                assert!(prefix_ok(&text), "{text}");
                constraint.accept(VOCAB[token as usize].as_bytes());
                if !constraint.in_call() {
                    assert!(accepts(&text), "{text}");
                    let body = text.strip_suffix("</tool_call>").unwrap();
                    let call = crate::tool_calls::call_from_json(body.trim()).unwrap();
                    assert!(g.tools.iter().any(|t| t.name == call.name));
                    completed += 1;
                    break;
                }
            }
        }
        assert!(
            completed > 200,
            "random logits still finish most calls: {completed}"
        );
    }

    #[test]
    fn outside_a_call_nothing_is_masked_and_the_trigger_may_span_tokens() {
        let g = grammar();
        let mut constraint = Constraint::new(&g);
        let mut logits = vec![1.0, 2.0];
        assert_eq!(
            constraint.mask(&mut logits, &|_| b"x".to_vec(), &|_| false),
            0
        );
        assert_eq!(logits, [1.0, 2.0]);
        for piece in ["Sure.\n<tool", "_call", ">\n{\"na"] {
            constraint.accept(piece.as_bytes());
        }
        assert!(constraint.in_call());
        assert!(constraint.allows(Some(b"me\": \"git")));
        assert!(!constraint.allows(Some(b"me\": \"curl")));
        assert!(!constraint.allows(None));

        let forced = ToolGrammar {
            forced: true,
            ..grammar()
        };
        let constraint = Constraint::new(&forced);
        assert!(
            constraint.in_call(),
            "a forced answer starts inside the call"
        );
        assert!(!constraint.allows(Some(b"Sure")));
        assert!(constraint.allows(Some(b"\n{\"name\"")));
    }

    #[test]
    fn an_answer_opening_with_a_brace_is_a_bare_call_that_ends_the_answer() {
        let g = grammar();
        let mut constraint = Constraint::new(&g);
        for piece in ["\n", " {\"", "name\": \"read_file\", "] {
            constraint.accept(piece.as_bytes());
        }
        assert!(constraint.in_call(), "the brace opened a call");
        assert!(!constraint.allows(Some(b"\"arguments\": {\"url")));
        assert!(
            !constraint.allows(Some(b"\"arguments\": {}}")),
            "path is required"
        );
        constraint.accept(b"\"arguments\": {\"path\": \"a.py\"}");
        assert!(!constraint.allows(None), "the object is not closed yet");
        assert!(
            !constraint.allows(Some(b"}</tool_call>")),
            "a bare call has no closing tag"
        );
        constraint.accept(b"}");
        assert!(
            constraint.in_call(),
            "after the object only the end may come"
        );
        assert!(constraint.allows(None));
        assert!(!constraint.allows(Some(b"\n{\"name\"")));
        let mut logits = vec![5.0, 1.0];
        constraint.mask(&mut logits, &|_| b"\n".to_vec(), &|t| t == 1);
        assert_eq!(logits, [f32::NEG_INFINITY, 1.0]);

        // Text first, or a brace that cannot start a call, leaves the answer free.
        for first in ["Sure: {", "{x", "{}"] {
            let mut constraint = Constraint::new(&g);
            constraint.accept(first.as_bytes());
            assert!(!constraint.in_call(), "{first}");
            assert!(constraint.allows(Some(b"anything")), "{first}");
        }
    }

    #[test]
    fn unsupported_schemas_are_refused() {
        let nested = json!({"function": {"name": "x", "parameters": {"properties": {"o": {"type": "object"}}}}});
        assert!(ToolGrammar::from_declarations(&[nested]).is_err());
        assert!(ToolGrammar::from_declarations(&[]).is_err());
    }
}
