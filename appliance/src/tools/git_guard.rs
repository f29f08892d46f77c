//! Git, locally only: a subcommand allowlist and a refusal of every option that could make
//! git reach out (remotes, custom transports, ssh commands, URL rewriting, credentials).

/// Settings every git call gets first, so nothing in the repository's own config runs code:
/// no hooks, no file-system monitor, no pager, no external diff tool.
pub const SAFE_CONFIG: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.pager=cat",
    "diff.external=",
    "core.sshCommand=false",
];

/// Subcommands the agent and the terminal panel may run.
pub const LOCAL_SUBCOMMANDS: &[&str] = &[
    "status",
    "diff",
    "log",
    "show",
    "add",
    "rm",
    "mv",
    "restore",
    "commit",
    "branch",
    "checkout",
    "switch",
    "init",
    "rev-parse",
    "ls-files",
];

/// Subcommands that talk to remotes.
const REMOTE_SUBCOMMANDS: &[&str] = &[
    "push",
    "fetch",
    "pull",
    "clone",
    "remote",
    "submodule",
    "ls-remote",
    "archive",
    "send-email",
    "request-pull",
    "svn",
    "p4",
    "daemon",
    "bundle",
];

/// Option fragments that configure transports, ssh, URL rewriting or credentials.
const REACHING_OPTIONS: &[&str] = &[
    "--upload-pack",
    "--receive-pack",
    "--exec",
    "sshcommand",
    "insteadof",
    "pushinsteadof",
    "credential",
    "--recurse-submodules",
    "proxy",
    "--config-env",
    "ext::",
    "fd::",
];

/// Checks git arguments (without the leading `git`); the error says why, for the person.
pub fn check(args: &[String]) -> Result<(), String> {
    let Some(sub) = args.first() else {
        return Err("name a git subcommand, e.g. status".into());
    };
    if sub.starts_with('-') {
        return Err(format!(
            "global git options ({sub}) are not allowed: they can change how git reaches remotes"
        ));
    }
    if REMOTE_SUBCOMMANDS.contains(&sub.as_str()) {
        return Err(format!(
            "`git {sub}` reaches a remote; Airlock runs git on local history only"
        ));
    }
    if !LOCAL_SUBCOMMANDS.contains(&sub.as_str()) {
        return Err(format!(
            "`git {sub}` is not on the local-git allowlist ({})",
            LOCAL_SUBCOMMANDS.join(", ")
        ));
    }
    for arg in &args[1..] {
        let lower = arg.to_ascii_lowercase();
        if let Some(bad) = REACHING_OPTIONS.iter().find(|o| lower.contains(*o)) {
            return Err(format!(
                "git option {arg:?} is refused ({bad} can reach outside the machine)"
            ));
        }
        if arg == "-c" || arg.starts_with("--config") {
            return Err(format!(
                "git configuration on the command line ({arg}) is refused"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn local_is_fine_remote_is_refused() {
        for ok in [
            "status",
            "log --oneline -5",
            "commit -m msg",
            "add -A",
            "branch feature",
            "checkout -b x",
            "diff HEAD~1",
        ] {
            assert!(check(&args(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "push origin main",
            "fetch",
            "pull",
            "clone https://x/y",
            "remote add origin https://x",
            "submodule update --init",
            "-c core.sshCommand=evil fetch",
            "-C /tmp status",
            "--git-dir=/x status",
            "checkout --recurse-submodules main",
            "log --config-env=x=y",
            "ls-remote origin",
            "config url.https://evil/.insteadOf https://good/",
        ] {
            assert!(check(&args(bad)).is_err(), "{bad}");
        }
        assert!(check(&[]).is_err());
    }
}
