//! The Air-Gap indicator's state, derived from what the appliance reports.

use serde_json::Value;

/// What the top bar shows.
#[derive(Clone, Debug, PartialEq)]
pub enum AirGap {
    /// No report yet.
    Checking,
    /// Every check passed.
    Active {
        /// One line per check, for the tooltip.
        checks: Vec<String>,
    },
    /// A check failed; the failing details.
    Warning {
        /// The failed checks.
        failures: Vec<String>,
    },
    /// The appliance stopped answering.
    Disconnected,
}

impl AirGap {
    /// Reads a `/api/status` report; anything malformed is a warning, never "active".
    pub fn from_report(report: &Value) -> Self {
        let Some(checks) = report["checks"].as_array().filter(|c| !c.is_empty()) else {
            return AirGap::Warning {
                failures: vec!["the appliance sent no checks".into()],
            };
        };
        let line = |c: &Value| {
            format!(
                "{}: {}",
                c["name"].as_str().unwrap_or("?"),
                c["detail"].as_str().unwrap_or("")
            )
        };
        let failures: Vec<String> = checks
            .iter()
            .filter(|c| c["ok"] != Value::Bool(true))
            .map(line)
            .collect();
        if failures.is_empty() && report["airgap_active"] == Value::Bool(true) {
            AirGap::Active {
                checks: checks.iter().map(line).collect(),
            }
        } else if failures.is_empty() {
            AirGap::Warning {
                failures: vec!["the appliance reports the air gap inactive".into()],
            }
        } else {
            AirGap::Warning { failures }
        }
    }

    /// True when the check called `name` is among the failures.
    pub fn failing(&self, name: &str) -> bool {
        match self {
            AirGap::Warning { failures } => {
                failures.iter().any(|f| f.split(':').next() == Some(name))
            }
            _ => false,
        }
    }

    /// `data-state` value for styling and tests.
    pub fn state(&self) -> &'static str {
        match self {
            AirGap::Checking => "checking",
            AirGap::Active { .. } => "active",
            AirGap::Warning { .. } => "warning",
            AirGap::Disconnected => "disconnected",
        }
    }

    /// The indicator's label.
    pub fn label(&self) -> &'static str {
        match self {
            AirGap::Checking => "Checking air gap…",
            AirGap::Active { .. } => "Air-Gap Active",
            AirGap::Warning { .. } => "Air-Gap Warning",
            AirGap::Disconnected => "Appliance Disconnected",
        }
    }

    /// Tooltip text.
    pub fn detail(&self) -> String {
        match self {
            AirGap::Checking => "Waiting for the appliance's first report".into(),
            AirGap::Active { checks } => checks.join("\n"),
            AirGap::Warning { failures } => failures.join("\n"),
            AirGap::Disconnected => {
                "The appliance is not answering; unsaved edits stay in the editor".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_complete_passing_report_is_active() {
        let ok = json!({"airgap_active": true, "checks": [{"name": "sockets_loopback", "ok": true, "detail": "all 3"}]});
        assert_eq!(AirGap::from_report(&ok).state(), "active");
        let bad = json!({"airgap_active": false, "checks": [{"name": "sockets_loopback", "ok": false, "detail": "1.2.3.4"}]});
        assert_eq!(
            AirGap::from_report(&bad),
            AirGap::Warning {
                failures: vec!["sockets_loopback: 1.2.3.4".into()]
            }
        );
        assert_eq!(AirGap::from_report(&json!({})).state(), "warning");
        let audit = json!({"airgap_active": false, "checks": [{"name": "audit_log", "ok": false, "detail": "cannot write"}]});
        assert!(AirGap::from_report(&audit).failing("audit_log"));
        assert!(!AirGap::from_report(&audit).failing("sandbox"));
        assert!(!AirGap::from_report(&ok).failing("sockets_loopback"));
        assert_eq!(
            AirGap::from_report(
                &json!({"airgap_active": false, "checks": [{"name": "x", "ok": true}]})
            )
            .state(),
            "warning"
        );
    }
}
