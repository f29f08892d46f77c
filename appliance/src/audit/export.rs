//! Exporting the audit log for a SIEM: verified JSON lines, or ArcSight CEF lines.

use super::record::AuditRecord;

/// Output formats of `airlock audit export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line, exactly as recorded (hashes included).
    JsonLines,
    /// ArcSight Common Event Format, one event per line.
    Cef,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "jsonl" | "json" => Ok(ExportFormat::JsonLines),
            "cef" => Ok(ExportFormat::Cef),
            other => Err(format!("unknown export format {other:?}; use jsonl or cef")),
        }
    }
}

/// Renders `records` in `format`, one line each.
pub fn render(records: &[AuditRecord], format: ExportFormat) -> String {
    records
        .iter()
        .map(|r| match format {
            ExportFormat::JsonLines => serde_json::to_string(r).unwrap_or_default(),
            ExportFormat::Cef => cef_line(r),
        } + "\n")
        .collect()
}

/// One CEF event: header fields escape `\` and `|`; extension values escape `\`, `=` and
/// line breaks.
pub fn cef_line(record: &AuditRecord) -> String {
    let severity = if record.outcome.starts_with("error") {
        6
    } else if record.outcome == "attempt" {
        2
    } else {
        3
    };
    format!(
        "CEF:0|Airlock|Airlock appliance|{}|{}|{}|{severity}|rt={} suser={} fname={} outcome={} cs1Label=seq cs1={} cs2Label=hash cs2={} cs3Label=prevHash cs3={}",
        env!("CARGO_PKG_VERSION"),
        header(&record.action),
        header(&format!("{} {}", record.action, record.outcome)),
        extension(&record.time),
        extension(&record.actor),
        extension(&record.target),
        extension(&record.outcome),
        record.seq,
        record.hash,
        record.prev_hash,
    )
}

fn header(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn extension(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(target: &str, outcome: &str) -> AuditRecord {
        AuditRecord {
            seq: 7,
            time: "2026-11-28T21:00:00.000Z".into(),
            actor: "session:ab".into(),
            action: "fs.write".into(),
            target: target.into(),
            outcome: outcome.into(),
            prev_hash: "p".into(),
            hash: "h".into(),
        }
    }

    #[test]
    fn cef_escapes_and_grades_severity() {
        let line = cef_line(&record("a=b|c\\d\ne.rs", "error:409"));
        assert!(
            line.starts_with("CEF:0|Airlock|Airlock appliance|"),
            "{line}"
        );
        assert!(line.contains("|fs.write|fs.write error:409|6|"), "{line}");
        assert!(
            line.contains("fname=a\\=b|c\\\\d\\ne.rs outcome=error:409"),
            "{line}"
        );
        assert!(line.contains("cs1=7 cs2Label=hash cs2=h"), "{line}");
        assert!(!line.contains('\n'));
        assert!(cef_line(&record("x", "attempt")).contains("|2|rt="));
    }

    #[test]
    fn json_lines_round_trip() {
        let out = render(
            &[record("x", "ok"), record("y", "ok")],
            ExportFormat::JsonLines,
        );
        let back: Vec<AuditRecord> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, vec![record("x", "ok"), record("y", "ok")]);
        assert_eq!("cef".parse::<ExportFormat>(), Ok(ExportFormat::Cef));
        assert!("xml".parse::<ExportFormat>().is_err());
    }
}
