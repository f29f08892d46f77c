//! What a workspace's own policy may change: it may only tighten the built-in defaults. A
//! repository that ships `.airlock/policy.toml` with `allow` rules, fewer approvals or less
//! redaction gets those loosenings ignored until the user confirms that exact policy text in
//! the IDE (audited), or an administrator pins a policy instead.

use super::{PolicyFile, Verdict, default_approval, default_secret_patterns};

/// The ways `file` is looser than the defaults, for a person to read.
pub fn loosenings(file: &PolicyFile) -> Vec<String> {
    let mut found = Vec::new();
    for tool in default_approval() {
        if !file.approval.contains(&tool) {
            found.push(format!("{tool} runs without approval"));
        }
    }
    if !file.commands.allow.is_empty() {
        found.push(format!(
            "commands run without approval: {}",
            file.commands.allow.join(", ")
        ));
    }
    if file.commands.default == Verdict::Allow {
        found.push("every other command runs without approval".into());
    }
    for pattern in default_secret_patterns() {
        if !file.redact.patterns.contains(&pattern) {
            found.push(format!("secrets matching {pattern} are not redacted"));
        }
    }
    if !file.redact.urls {
        found.push("external URLs are not redacted".into());
    }
    found
}

/// `file` with every loosening taken back: the default approvals, no allow rules, asking
/// by default, the default redactions — its tightenings (deny rules, denied paths, more
/// approvals and patterns) stay.
pub fn clamp(file: &mut PolicyFile) {
    for tool in default_approval() {
        if !file.approval.contains(&tool) {
            file.approval.push(tool);
        }
    }
    file.commands.allow.clear();
    if file.commands.default == Verdict::Allow {
        file.commands.default = Verdict::Ask;
    }
    for pattern in default_secret_patterns() {
        if !file.redact.patterns.contains(&pattern) {
            file.redact.patterns.push(pattern);
        }
    }
    file.redact.urls = true;
}
