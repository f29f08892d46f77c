//! The audit log: every authenticated action is recorded in a verifiable chain, tampering
//! is pinpointed, and a log that cannot be written stops every change.

use airlock_appliance::audit::{AuditRecord, CHECKPOINT_FILE, LOG_FILE, verify};
use airlock_integration_tests::TestAppliance;
use serde_json::json;

fn records(dir: &std::path::Path) -> Vec<AuditRecord> {
    std::fs::read_to_string(dir.join(LOG_FILE))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs a session with reads, writes and a refused write, then stops the appliance.
async fn recorded_session() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let app = TestAppliance::start().await;
    let token = app.appliance.token().to_owned();
    let file = app
        .send(app.authed("GET", "/api/fs/file?path=src/main.rs"))
        .await
        .json();
    let version = file["version"].as_str().unwrap().to_owned();
    let body =
        json!({"path": "src/main.rs", "content": "SECRET_CONTENT\n", "base_version": version});
    assert_eq!(
        app.send(app.json("PUT", "/api/fs/file", body.clone()))
            .await
            .status,
        200
    );
    assert_eq!(
        app.send(app.json("PUT", "/api/fs/file", body)).await.status,
        409
    );
    let rename = json!({"from": "README.md", "to": "GUIDE.md"});
    assert_eq!(
        app.send(app.json("POST", "/api/fs/rename", rename))
            .await
            .status,
        200
    );
    let dir = app.audit_dir();
    let TestAppliance { appliance, outer } = app;
    appliance.shutdown().await.unwrap();
    (outer, dir, token)
}

#[tokio::test]
async fn a_session_is_recorded_as_a_verifiable_chain() {
    let (_keep, dir, token) = recorded_session().await;
    let log = records(&dir);
    let summary: Vec<String> = log
        .iter()
        .map(|r| format!("{} {} {}", r.action, r.target, r.outcome))
        .collect();
    let expected_tail = [
        "policy.load defaults ok: sha256 (built-in defaults)",
        "fs.read src/main.rs ok",
        "fs.write src/main.rs attempt",
        "fs.write src/main.rs ok",
        "fs.write src/main.rs attempt",
        "fs.write src/main.rs error:409 conflict",
        "fs.rename README.md -> GUIDE.md attempt",
        "fs.rename README.md -> GUIDE.md ok",
        "session.end  ok",
    ];
    assert!(summary[0].starts_with("session.start ws ok"), "{summary:?}");
    assert_eq!(&summary[1..], &expected_tail, "{summary:?}");
    for (i, record) in log.iter().enumerate() {
        assert_eq!(record.seq, i as u64 + 1);
        assert!(
            record.time.ends_with('Z') && record.time.len() == 24,
            "{}",
            record.time
        );
    }
    assert!(log[2].actor.starts_with("session:") && log[0].actor == "appliance");
    let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
    assert!(!text.contains(&token), "the token never reaches the log");
    assert!(
        !text.contains("SECRET_CONTENT"),
        "file contents never reach the log"
    );
    let report = verify(&dir.join(LOG_FILE), Some(&dir.join(CHECKPOINT_FILE))).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, log.len() as u64);
}

fn rewrite(dir: &std::path::Path, edit: impl FnOnce(&mut Vec<AuditRecord>)) {
    let mut log = records(dir);
    edit(&mut log);
    let text: String = log
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(dir.join(LOG_FILE), text).unwrap();
}

fn bad_seq(dir: &std::path::Path) -> (Option<u64>, String) {
    let report = verify(&dir.join(LOG_FILE), Some(&dir.join(CHECKPOINT_FILE))).unwrap();
    assert!(!report.ok);
    (report.bad_seq, report.problem.unwrap())
}

#[tokio::test]
async fn an_edited_middle_record_is_reported_by_its_sequence_number() {
    let (_keep, dir, _) = recorded_session().await;
    rewrite(&dir, |log| log[4].outcome = "tampered".into());
    let (seq, problem) = bad_seq(&dir);
    assert_eq!(seq, Some(5), "{problem}");
    assert!(problem.contains("altered"));
}

#[tokio::test]
async fn an_edited_and_rehashed_record_is_still_caught() {
    let (_keep, dir, _) = recorded_session().await;
    rewrite(&dir, |log| {
        log[3].target = "innocent.txt".into();
        log[3].hash = log[3].compute_hash();
    });
    assert_eq!(bad_seq(&dir).0, Some(4));
}

#[tokio::test]
async fn a_deleted_or_inserted_record_is_caught() {
    let (_keep, dir, _) = recorded_session().await;
    let original = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
    rewrite(&dir, |log| {
        log.remove(2);
    });
    let (seq, problem) = bad_seq(&dir);
    assert_eq!(seq, Some(3), "{problem}");
    assert!(problem.contains("missing"));
    std::fs::write(dir.join(LOG_FILE), &original).unwrap();
    rewrite(&dir, |log| {
        let copy = log[2].clone();
        log.insert(3, copy);
    });
    assert_eq!(bad_seq(&dir).0, Some(3));
}

#[tokio::test]
async fn a_truncated_tail_is_caught_against_the_checkpoint() {
    let (_keep, dir, _) = recorded_session().await;
    let total = records(&dir).len();
    rewrite(&dir, |log| log.truncate(total - 2));
    let (seq, problem) = bad_seq(&dir);
    assert_eq!(seq, Some(total as u64 - 1), "{problem}");
    assert!(problem.contains("truncated"));
    let without_checkpoint = verify(&dir.join(LOG_FILE), None).unwrap();
    assert!(
        without_checkpoint.ok,
        "the chain itself is intact; only the checkpoint reveals the cut"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_log_that_cannot_be_written_stops_every_change() {
    let app = TestAppliance::start().await;
    // From now on the checkpoint cannot be written (ENOSPC), so the next append fails.
    std::os::unix::fs::symlink(
        "/dev/full",
        app.audit_dir().join(format!("{CHECKPOINT_FILE}.tmp")),
    )
    .unwrap();
    let _ = app.send(app.authed("GET", "/api/fs/tree")).await;
    let create = app
        .send(app.json(
            "POST",
            "/api/fs/create",
            json!({"path": "new.txt", "kind": "file"}),
        ))
        .await;
    assert_eq!(create.status, 503);
    assert_eq!(create.error_code(), "audit_unavailable");
    assert!(
        !app.workspace().join("new.txt").exists(),
        "no unaudited change"
    );
    let status = app.send(app.authed("GET", "/api/status")).await.json();
    assert_eq!(status["airgap_active"], false);
    let audit = status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "audit_log")
        .unwrap();
    assert_eq!(audit["ok"], false);
}

mod rotation {
    use airlock_appliance::audit::log::Rotation;
    use airlock_appliance::audit::segments::rotated_segments;
    use airlock_appliance::audit::{AuditLog, CHECKPOINT_FILE, Entry, LOG_FILE, verify};

    fn entry(i: usize) -> Entry {
        Entry {
            actor: "session:test".into(),
            action: "fs.read".into(),
            target: format!("file{i}.rs"),
            outcome: "ok".into(),
        }
    }

    fn check(dir: &std::path::Path) -> airlock_appliance::audit::VerifyReport {
        verify(&dir.join(LOG_FILE), Some(&dir.join(CHECKPOINT_FILE))).unwrap()
    }

    #[test]
    fn rotated_segments_stay_chained_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let small = Rotation {
            max_bytes: 600,
            keep_days: None,
        };
        let log = AuditLog::open_with(dir.path(), small).unwrap();
        for i in 0..20 {
            log.append(entry(i)).unwrap();
        }
        drop(log);
        let segments = rotated_segments(dir.path()).unwrap();
        assert!(segments.len() >= 3, "{segments:?}");
        assert_eq!(segments[0].first, 1);
        let reopened = AuditLog::open_with(dir.path(), small).unwrap();
        assert_eq!(
            reopened.append(entry(20)).unwrap().seq,
            21,
            "the chain continues after a restart"
        );
        let report = check(dir.path());
        assert!(report.ok, "{report:?}");
        assert_eq!(report.records, 21);
        std::fs::remove_file(&segments[1].path).unwrap();
        let broken = check(dir.path());
        assert!(!broken.ok);
        assert_eq!(broken.bad_seq, Some(segments[1].first), "{broken:?}");
    }

    #[test]
    fn retention_deletes_old_segments_and_leaves_a_verifiable_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open_with(
            dir.path(),
            Rotation {
                max_bytes: 600,
                keep_days: Some(0),
            },
        )
        .unwrap();
        for i in 0..20 {
            log.append(entry(i)).unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
        let all: String = rotated_segments(dir.path())
            .unwrap()
            .iter()
            .map(|s| std::fs::read_to_string(&s.path).unwrap())
            .collect::<String>()
            + &text;
        assert!(
            all.contains("\"audit.retention\""),
            "a retention record explains the gap"
        );
        assert!(!all.contains("\"seq\":1,"), "the oldest records are gone");
        let report = check(dir.path());
        assert!(report.ok, "{report:?}");
        assert!(report.records < 20);
    }
}

/// Tampering while the appliance is stopped: found by `verify`, and recorded as an alarm in
/// the log when the appliance opens it again (the chain is never silently re-anchored).
mod tampering_while_stopped {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use airlock_appliance::audit::{
        ALARM_ACTION, AuditKey, AuditLog, AuditRecord, CHECKPOINT_FILE, CLOCK_ACTION, Entry,
        LOG_FILE, VerifyReport, verify,
    };

    fn entry(i: usize) -> Entry {
        Entry {
            actor: "session:test".into(),
            action: "fs.write".into(),
            target: format!("file{i}.rs"),
            outcome: "ok".into(),
        }
    }

    /// An audit folder (inside a temporary parent, so its key stays inside too) with
    /// `n` records, closed.
    fn log_with(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("audit");
        let log = AuditLog::open(&dir).unwrap();
        for i in 0..n {
            log.append(entry(i)).unwrap();
        }
        (parent, dir)
    }

    fn check(dir: &Path) -> VerifyReport {
        verify(&dir.join(LOG_FILE), Some(&dir.join(CHECKPOINT_FILE))).unwrap()
    }

    fn lines(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join(LOG_FILE))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Reopens the log as the appliance would at its next start, and appends one record.
    fn reopen(dir: &Path) -> Vec<AuditRecord> {
        AuditLog::open(dir).unwrap().append(entry(99)).unwrap();
        lines(dir)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn assert_alarm(dir: &Path, words: &str) {
        let records = reopen(dir);
        let alarm = records
            .iter()
            .find(|r| r.action == ALARM_ACTION)
            .expect("an alarm record");
        assert!(alarm.outcome.contains(words), "{}", alarm.outcome);
        let report = check(dir);
        assert!(!report.ok, "{report:?}");
        assert_eq!(report.bad_seq, Some(alarm.seq), "{report:?}");
        assert!(report.problem.unwrap().contains("alarm"));
    }

    #[test]
    fn a_truncated_log_fails_and_raises_an_alarm_on_reopen() {
        let (_keep, dir) = log_with(6);
        let kept = lines(&dir)[..4].join("\n") + "\n";
        std::fs::write(dir.join(LOG_FILE), kept).unwrap();
        let report = check(&dir);
        assert!(!report.ok && report.problem.unwrap().contains("truncated"));
        assert_alarm(&dir, "records were removed");
    }

    #[test]
    fn a_wiped_or_deleted_log_fails_and_raises_an_alarm_on_reopen() {
        for wipe in [true, false] {
            let (_keep, dir) = log_with(3);
            if wipe {
                std::fs::write(dir.join(LOG_FILE), "").unwrap();
            } else {
                std::fs::remove_file(dir.join(LOG_FILE)).unwrap();
            }
            assert!(!check(&dir).ok, "wiped: {wipe}");
            assert_alarm(&dir, "the log ends at record 0");
        }
    }

    #[test]
    fn a_stale_checkpoint_fails_and_raises_an_alarm_on_reopen() {
        let (_keep, dir) = log_with(3);
        let old = std::fs::read(dir.join(CHECKPOINT_FILE)).unwrap();
        let log = AuditLog::open(&dir).unwrap();
        log.append(entry(3)).unwrap();
        log.append(entry(4)).unwrap();
        drop(log);
        std::fs::write(dir.join(CHECKPOINT_FILE), old).unwrap();
        let report = check(&dir);
        assert!(!report.ok && report.problem.unwrap().contains("stale"));
        assert_alarm(&dir, "old checkpoint");
    }

    #[test]
    fn rewritten_history_needs_the_key() {
        let (_keep, dir) = log_with(4);
        // Rewrite record 2 and re-chain everything after it, as a careful forger would.
        let mut records: Vec<AuditRecord> = lines(&dir)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        records[1].target = "innocent.rs".into();
        for i in 1..records.len() {
            if i > 1 {
                records[i].prev_hash = records[i - 1].hash.clone();
            }
            records[i].hash = records[i].compute_hash();
        }
        let text: String = records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        std::fs::write(dir.join(LOG_FILE), text).unwrap();
        let last = records.last().unwrap();
        let forged = format!(r#"{{"seq":{},"hash":"{}"}}"#, last.seq, last.hash);
        std::fs::write(dir.join(CHECKPOINT_FILE), &forged).unwrap();
        let report = check(&dir);
        assert!(!report.ok, "{report:?}");
        assert!(report.problem.unwrap().contains("seal"));
        let wrong_key = format!(
            r#"{{"seq":{},"hash":"{}","seal":"{}"}}"#,
            last.seq,
            last.hash,
            "ab".repeat(32)
        );
        std::fs::write(dir.join(CHECKPOINT_FILE), wrong_key).unwrap();
        assert!(!check(&dir).ok);
        assert_alarm(&dir, "seal");
    }

    #[test]
    fn audit_files_are_private_and_the_key_lives_outside_the_folder() {
        let (_keep, dir) = log_with(1);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(LOG_FILE)), 0o600);
        assert_eq!(mode(&dir.join(CHECKPOINT_FILE)), 0o600);
        let key = AuditKey::path_for(&dir);
        assert!(!key.starts_with(&dir));
        assert_eq!(mode(&key), 0o600);
        assert!(check(&dir).ok);
    }

    #[test]
    fn a_clock_that_went_back_is_recorded_and_reported() {
        let (_keep, dir) = log_with(2);
        // The newest record claims a time far ahead, as if the clock was later set back.
        let mut records: Vec<AuditRecord> = lines(&dir)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let last = records.last_mut().unwrap();
        last.time = "2999-01-01T00:00:00.000Z".into();
        last.hash = last.compute_hash();
        let (seq, hash) = (last.seq, last.hash.clone());
        let text: String = records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        std::fs::write(dir.join(LOG_FILE), text).unwrap();
        let key = AuditKey::load(&dir).unwrap().unwrap();
        std::fs::write(
            dir.join(CHECKPOINT_FILE),
            serde_json::to_vec(&key.seal(seq, &hash)).unwrap(),
        )
        .unwrap();
        let records = reopen(&dir);
        assert!(records.iter().all(|r| r.action != ALARM_ACTION));
        let clock = records.iter().find(|r| r.action == CLOCK_ACTION).unwrap();
        assert!(
            clock.outcome.contains("went back from 2999"),
            "{}",
            clock.outcome
        );
        let report = check(&dir);
        assert!(report.ok, "{report:?}");
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("clock went back")),
            "{report:?}"
        );
    }
}
