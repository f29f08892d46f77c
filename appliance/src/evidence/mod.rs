//! Egress evidence for a security reviewer: what the appliance and every running sandboxed
//! command have open (read from `/proc` now), the sandbox and policy in force, the CSP the
//! page runs under, and the audit chain's head and verification — as a report, and as one
//! archive (`tar`) with the policy and this session's audit records.

pub mod tar;

use serde::Serialize;

use crate::api::ApiState;
use crate::api::status::{StatusReport, measure};
use crate::audit::verify::read_records;
use crate::audit::{AuditRecord, CHECKPOINT_FILE, LOG_FILE, VerifyReport};
use crate::egress::{OwnSocket, process_tree, sockets_of};
use crate::layers::security_headers::{CspNonce, content_security_policy};

/// Sockets of one process.
#[derive(Debug, Serialize)]
pub struct ProcessSockets {
    /// The process.
    pub pid: u32,
    /// Its TCP/UDP sockets, in its own network namespace.
    pub sockets: Vec<OwnSocket>,
}

/// A running sandboxed command and what its processes have open.
#[derive(Debug, Serialize)]
pub struct CommandEvidence {
    /// The command line.
    pub command: String,
    /// Every process of its tree.
    pub processes: Vec<ProcessSockets>,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct EvidenceReport {
    /// When it was measured (RFC 3339 UTC).
    pub generated_at: String,
    /// The appliance build that measured it (`airlock --version`).
    pub build: String,
    /// True only when every socket below (and every one sampling saw while commands ran) is
    /// loopback-only, every check passed and the audit log verifies.
    pub all_clear: bool,
    /// Sockets that are not loopback-only, described (empty when all clear).
    pub findings: Vec<String>,
    /// The appliance process.
    pub appliance: ProcessSockets,
    /// Sandboxed commands running now.
    pub commands: Vec<CommandEvidence>,
    /// The air-gap checks (same as the status bar's).
    pub status: StatusReport,
    /// The Content-Security-Policy every page gets (the nonce differs per response).
    pub content_security_policy: String,
    /// Verification of the whole audit log against its checkpoint.
    pub audit_verification: Option<VerifyReport>,
    /// The appliance's connections to a team server of the pinned policy (declared egress).
    pub team_server_connections: Vec<String>,
}

/// Measures the evidence report now (blocking: reads `/proc` and the audit log).
pub fn report(state: &ApiState) -> EvidenceReport {
    let status = measure(&state.launch, &state.audit, &state.sandbox);
    let appliance = ProcessSockets {
        pid: std::process::id(),
        sockets: sockets_of("self").unwrap_or_default(),
    };
    let commands: Vec<CommandEvidence> = state
        .sandbox
        .running()
        .into_iter()
        .map(|running| CommandEvidence {
            command: running.command,
            processes: process_tree(running.pid)
                .into_iter()
                .map(|pid| ProcessSockets {
                    pid,
                    sockets: sockets_of(&pid.to_string()).unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    let upstreams = state
        .launch
        .policy
        .current()
        .map(|p| p.upstreams.clone())
        .unwrap_or_default();
    let team_server_connections: Vec<String> = appliance
        .sockets
        .iter()
        .filter_map(|s| {
            crate::upstream::declared(&upstreams, &s.remote).map(|name| {
                format!(
                    "{} {} -> {} (team server {name})",
                    s.protocol, s.local, s.remote
                )
            })
        })
        .collect();
    let mut findings: Vec<String> = appliance
        .sockets
        .iter()
        .filter(|s| !s.loopback_only && crate::upstream::declared(&upstreams, &s.remote).is_none())
        .map(|s| {
            format!(
                "appliance pid {}: {} {} -> {}",
                appliance.pid, s.protocol, s.local, s.remote
            )
        })
        .collect();
    for command in &commands {
        for process in &command.processes {
            for socket in process.sockets.iter().filter(|s| !s.loopback_only) {
                findings.push(format!(
                    "command {:?} pid {}: {} {} -> {}",
                    command.command, process.pid, socket.protocol, socket.local, socket.remote
                ));
            }
        }
    }
    // What sampling saw while commands ran, including sockets that are closed by now.
    for seen in state.sandbox.observed() {
        let line = format!("seen while running: {seen}");
        if !findings
            .iter()
            .any(|f| seen.contains(f.as_str()) || *f == line)
        {
            findings.push(line);
        }
    }
    for check in status.checks.iter().filter(|c| !c.ok) {
        findings.push(format!("check {} failed: {}", check.name, check.detail));
    }
    let audit_verification = state.audit.verify().ok();
    match &audit_verification {
        Some(report) if report.ok => {}
        Some(report) => findings.push(format!(
            "the audit log fails verification: {}",
            report.problem.as_deref().unwrap_or("unknown problem")
        )),
        None => findings.push("the audit log could not be read for verification".into()),
    }
    let host = state
        .launch
        .listeners
        .first()
        .map(|a| format!("127.0.0.1:{}", a.port()))
        .unwrap_or_default();
    EvidenceReport {
        generated_at: crate::audit::clock::now_rfc3339(),
        build: crate::build_info::describe(),
        all_clear: findings.is_empty(),
        findings,
        appliance,
        commands,
        status,
        content_security_policy: content_security_policy(
            &host,
            &CspNonce("PER-RESPONSE-NONCE".into()),
        ),
        audit_verification,
        team_server_connections,
    }
}

/// The evidence pack: report, verification, policy (if any) and this session's audit records.
pub fn pack(state: &ApiState, report: &EvidenceReport) -> std::io::Result<Vec<u8>> {
    let mut archive = tar::TarWriter::default();
    archive.append(
        "evidence/report.json",
        &serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?,
    )?;
    let dir = state.audit.dir();
    let records: Vec<AuditRecord> = read_records(&dir.join(LOG_FILE))?
        .into_iter()
        .filter(|r| r.seq >= state.launch.session_start_seq)
        .collect();
    let segment: String = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default() + "\n")
        .collect();
    archive.append("evidence/audit-session.jsonl", segment.as_bytes())?;
    if let Ok(checkpoint) = std::fs::read(dir.join(CHECKPOINT_FILE)) {
        archive.append("evidence/audit.checkpoint", &checkpoint)?;
    }
    if let Ok(policy) = state.launch.policy.current()
        && !policy.text.is_empty()
    {
        archive.append("evidence/policy.toml", policy.text.as_bytes())?;
    }
    Ok(archive.finish())
}
