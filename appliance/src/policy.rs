//! The workspace policy: which tools need a person's approval, which commands and paths are
//! allowed, and what is redacted before tool output reaches the model. Read from
//! `.airlock/policy.toml` in the workspace, unless an administrator pinned a policy file
//! from outside the workspace (`airlock serve --policy FILE`), which then wins outright.

mod command_line;
mod loosening;
mod store;

pub use store::{PolicyChange, PolicyStore, confirmations_path};

use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::Regex;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Where a workspace keeps its own policy.
pub const WORKSPACE_POLICY: &str = ".airlock/policy.toml";

/// What to do with a command that matches a rule.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Runs without asking.
    Allow,
    /// Runs only with a person's approval.
    Ask,
    /// Never runs.
    Deny,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default = "default_approval")]
    approval: Vec<String>,
    #[serde(default)]
    commands: CommandRules,
    #[serde(default)]
    paths: PathRules,
    #[serde(default)]
    redact: RedactRules,
    #[serde(default)]
    upstream: Vec<crate::upstream::UpstreamConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandRules {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    ask: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default = "default_verdict")]
    default: Verdict,
}

impl Default for CommandRules {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            ask: Vec::new(),
            deny: Vec::new(),
            default: default_verdict(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PathRules {
    #[serde(default)]
    deny: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedactRules {
    #[serde(default = "default_secret_patterns")]
    patterns: Vec<String>,
    #[serde(default = "yes")]
    urls: bool,
}

impl Default for RedactRules {
    fn default() -> Self {
        Self {
            patterns: default_secret_patterns(),
            urls: true,
        }
    }
}

fn default_approval() -> Vec<String> {
    ["run_command", "apply_edit", "git"]
        .map(String::from)
        .to_vec()
}

fn default_verdict() -> Verdict {
    Verdict::Ask
}

fn yes() -> bool {
    true
}

fn default_secret_patterns() -> Vec<String> {
    [
        r"(?i)\b(api[_-]?key|secret|password|passwd|token)\b\s*[:=]\s*\S+",
        r"\bAKIA[0-9A-Z]{16}\b",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    ]
    .map(String::from)
    .to_vec()
}

/// Where the policy in force came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicySource {
    /// Built-in defaults (no file).
    Defaults,
    /// `.airlock/policy.toml` in the workspace.
    Workspace,
    /// A file an administrator pinned from outside the workspace.
    Pinned,
}

/// The policy in force, compiled.
#[derive(Debug)]
pub struct Policy {
    approval: Vec<String>,
    allow: Vec<String>,
    ask: Vec<String>,
    deny: Vec<String>,
    default_verdict: Verdict,
    denied_paths: GlobSet,
    /// Secret patterns, with their source text as the rule name.
    pub secret_patterns: Vec<(String, Regex)>,
    /// Whether external URLs are redacted from tool output.
    pub redact_urls: bool,
    /// Where it came from.
    pub source: PolicySource,
    /// SHA-256 of the policy text ("" for the defaults), for the evidence report.
    pub hash: String,
    /// The policy text ("" for the defaults), for the evidence pack.
    pub text: String,
    /// How a workspace policy's text is looser than the defaults (empty otherwise).
    pub loosenings: Vec<String>,
    /// True when those loosenings are ignored because nobody confirmed this text.
    pub loosenings_ignored: bool,
    /// Team servers; only a pinned admin policy may name them.
    pub upstreams: Vec<crate::upstream::Upstream>,
}

impl Policy {
    /// Loads the pinned file if given, else the workspace's, else the defaults. A policy
    /// file that does not parse is an error (never silently replaced by defaults). A
    /// workspace policy only tightens the defaults unless `confirmed` holds its hash.
    pub fn load(
        workspace: &Path,
        pinned: Option<&Path>,
        confirmed: &dyn Fn(&str) -> bool,
    ) -> anyhow::Result<Self> {
        let (text, source) = match pinned {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read pinned policy {}: {e}", path.display())
                })?,
                PolicySource::Pinned,
            ),
            None => match std::fs::read_to_string(workspace.join(WORKSPACE_POLICY)) {
                Ok(text) => (text, PolicySource::Workspace),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    (String::new(), PolicySource::Defaults)
                }
                Err(e) => anyhow::bail!("cannot read {WORKSPACE_POLICY}: {e}"),
            },
        };
        let trusted = source != PolicySource::Workspace || confirmed(&text_hash(&text));
        Self::compile(&text, source, !trusted)
    }

    /// Compiles a policy from its TOML text, as written.
    pub fn parse(text: &str, source: PolicySource) -> anyhow::Result<Self> {
        Self::compile(text, source, false)
    }

    /// Compiles a policy from its TOML text; `clamp` takes its loosenings back.
    fn compile(text: &str, source: PolicySource, clamp: bool) -> anyhow::Result<Self> {
        let mut file: PolicyFile =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("invalid policy: {e}"))?;
        let mut loosenings = if source == PolicySource::Workspace {
            loosening::loosenings(&file)
        } else {
            Vec::new()
        };
        let upstreams = if source == PolicySource::Pinned {
            file.upstream
                .iter()
                .map(crate::upstream::Upstream::compile)
                .collect::<anyhow::Result<Vec<_>>>()?
        } else {
            if !file.upstream.is_empty() {
                loosenings.push(
                    "names team servers ([[upstream]]), which only a pinned admin policy may do; always ignored"
                        .into(),
                );
            }
            Vec::new()
        };
        let loosenings_ignored = clamp && !loosenings.is_empty();
        if loosenings_ignored {
            loosening::clamp(&mut file);
        }
        let mut globs = GlobSetBuilder::new();
        for pattern in &file.paths.deny {
            globs.add(
                Glob::new(pattern)
                    .map_err(|e| anyhow::anyhow!("invalid path pattern {pattern:?}: {e}"))?,
            );
        }
        let secret_patterns = file
            .redact
            .patterns
            .iter()
            .map(|p| {
                Ok((
                    p.clone(),
                    Regex::new(p)
                        .map_err(|e| anyhow::anyhow!("invalid redact pattern {p:?}: {e}"))?,
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            approval: file.approval,
            allow: file.commands.allow,
            ask: file.commands.ask,
            deny: file.commands.deny,
            default_verdict: file.commands.default,
            denied_paths: globs.build()?,
            secret_patterns,
            redact_urls: file.redact.urls,
            source,
            text: text.to_owned(),
            hash: text_hash(text),
            loosenings,
            loosenings_ignored,
            upstreams,
        })
    }

    /// True when `tool` may only run with a person's approval.
    pub fn needs_approval(&self, tool: &str) -> bool {
        self.approval.iter().any(|t| t == tool)
    }

    /// True when `path` (workspace-relative) matches a denied pattern. The policy file itself
    /// is always denied to the tools, so the agent cannot loosen it.
    pub fn path_denied(&self, path: &str) -> bool {
        path == WORKSPACE_POLICY
            || path.starts_with(".airlock/")
            || self.denied_paths.is_match(path)
    }

    /// The verdict for a command line, judged per simple command ([`command_line::parse`]):
    /// the strictest of its commands' verdicts wins, and a line whose effect the text cannot
    /// show (a command substitution, a subshell, `xargs` …) needs approval at least.
    pub fn command_verdict(&self, command: &str) -> (Verdict, Option<String>) {
        let line = command_line::parse(command);
        let mut worst = (Verdict::Allow, None);
        if line.commands.is_empty() {
            worst = (self.default_verdict, None);
        }
        for words in &line.commands {
            let verdict = self.simple_verdict(words);
            if rank(verdict.0) > rank(worst.0) {
                worst = verdict;
            }
        }
        match line.opaque {
            Some(why) if worst.0 == Verdict::Allow => {
                (Verdict::Ask, Some(format!("the line holds {why}")))
            }
            _ => worst,
        }
    }

    /// One simple command: deny rules first, then ask, then allow, then the default. A rule
    /// matches the command's first word(s): `cargo test` matches `cargo test --all`.
    fn simple_verdict(&self, words: &[String]) -> (Verdict, Option<String>) {
        let matches = |rule: &String| {
            let rule_words: Vec<&str> = rule.split_whitespace().collect();
            !rule_words.is_empty()
                && words.len() >= rule_words.len()
                && words[..rule_words.len()]
                    .iter()
                    .zip(&rule_words)
                    .all(|(w, r)| w == r)
        };
        for (rules, verdict) in [
            (&self.deny, Verdict::Deny),
            (&self.ask, Verdict::Ask),
            (&self.allow, Verdict::Allow),
        ] {
            if let Some(rule) = rules.iter().find(|r| matches(r)) {
                return (verdict, Some(rule.clone()));
            }
        }
        (self.default_verdict, None)
    }
}

/// SHA-256 (hex) of a policy text; "" for no text.
fn text_hash(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

/// How strict a verdict is, for picking the strictest.
fn rank(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Allow => 0,
        Verdict::Ask => 1,
        Verdict::Deny => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_in_order() {
        let policy = Policy::parse(
            r#"
approval = ["apply_edit"]
[commands]
allow = ["ls", "cargo test"]
deny = ["curl", "cargo publish"]
default = "deny"
[paths]
deny = [".env", "secrets/**"]
"#,
            PolicySource::Workspace,
        )
        .unwrap();
        assert_eq!(policy.command_verdict("ls -la").0, Verdict::Allow);
        assert_eq!(policy.command_verdict("cargo test --all").0, Verdict::Allow);
        assert_eq!(policy.command_verdict("cargo publish").0, Verdict::Deny);
        assert_eq!(policy.command_verdict("curl http://x").0, Verdict::Deny);
        assert_eq!(
            policy.command_verdict("lsof").0,
            Verdict::Deny,
            "ls must not match lsof"
        );
        // Compound lines are judged per command: an allow rule carries nothing else.
        for line in [
            "cargo test && curl x",
            "cargo test; /usr/bin/curl x",
            "ls | env A=1 curl x",
            "cargo test\ncurl x",
            "cargo test $(curl x)",
            "bash -c 'ls; curl x'",
            "'cur'l x",
        ] {
            assert_eq!(policy.command_verdict(line).0, Verdict::Deny, "{line}");
        }
        assert_eq!(policy.command_verdict("ls && lsof").0, Verdict::Deny);
        assert_eq!(
            policy.command_verdict("cargo test 2>&1 > out.txt && ls").0,
            Verdict::Allow
        );
        let asks = Policy::parse(
            "[commands]\nallow = [\"ls\", \"cargo test\"]\ndefault = \"ask\"",
            PolicySource::Workspace,
        )
        .unwrap();
        for line in [
            "cargo test `echo hi`",
            "ls | xargs ls",
            "(ls)",
            "ls; rm -rf src",
        ] {
            assert_eq!(asks.command_verdict(line).0, Verdict::Ask, "{line}");
        }
        assert!(
            policy.path_denied(".env")
                && policy.path_denied("secrets/a/b.key")
                && policy.path_denied(".airlock/policy.toml")
        );
        assert!(!policy.path_denied("src/main.rs"));
        assert!(policy.needs_approval("apply_edit") && !policy.needs_approval("run_command"));
        assert_eq!(policy.hash.len(), 64);
    }

    #[test]
    fn defaults_are_cautious_and_bad_files_are_errors() {
        let defaults = Policy::parse("", PolicySource::Defaults).unwrap();
        assert!(defaults.needs_approval("run_command") && defaults.needs_approval("apply_edit"));
        assert_eq!(defaults.command_verdict("anything").0, Verdict::Ask);
        assert!(Policy::parse("approval = 3", PolicySource::Workspace).is_err());
        assert!(Policy::parse("[paths]\ndeny = [\"[\"]", PolicySource::Workspace).is_err());
        assert!(Policy::parse("[surprise]\nx = 1", PolicySource::Workspace).is_err());
    }
}
