//! When a model is better served by the team server: the fit calculator's verdict for this
//! browser, whether its adapter is a software renderer, and what the team server offers.

/// The advice to add to a model's fit line, if the team server is the better place for it.
pub fn team_hint(fits: bool, software: bool, team_model: Option<&str>) -> Option<String> {
    let team = team_model?;
    match (fits, software) {
        (false, _) => Some(format!(
            "The team server's {team} can serve instead (pick it under Team server)."
        )),
        (true, true) => Some(format!(
            "This adapter is a software renderer, so answers will be slow; the team server's {team} will answer faster."
        )),
        (true, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_team_server_is_suggested_when_the_browser_cannot_do_well() {
        assert!(
            team_hint(false, false, Some("coder-7b"))
                .unwrap()
                .contains("coder-7b")
        );
        assert!(
            team_hint(true, true, Some("coder-7b"))
                .unwrap()
                .contains("slow")
        );
        assert_eq!(team_hint(true, false, Some("coder-7b")), None);
        assert_eq!(
            team_hint(false, true, None),
            None,
            "no team server, no advice"
        );
    }
}
