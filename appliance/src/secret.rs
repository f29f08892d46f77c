//! The per-launch session secret: minted fresh at start, compared in constant time.

use subtle::ConstantTimeEq;

/// A 128-bit random secret, hex encoded, that authenticates the browser and scripts.
#[derive(Clone)]
pub struct SessionSecret(String);

impl SessionSecret {
    /// Mints a fresh secret from the operating system's random source.
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|e| anyhow::anyhow!("no OS randomness for the session secret: {e}"))?;
        Ok(Self(hex::encode(bytes)))
    }

    /// The secret's text, for the launch URL and the token file only (never for logs).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison against a presented credential.
    pub fn matches(&self, presented: &str) -> bool {
        let ours = self.0.as_bytes();
        let theirs = presented.as_bytes();
        ours.len() == theirs.len() && bool::from(ours.ct_eq(theirs))
    }
}

/// The one-time value in the printed launch URL: exchanged once for the session cookie,
/// so the URL left in shell scrollback or browser history is worthless afterwards.
pub struct LaunchNonce(std::sync::Mutex<Option<SessionSecret>>);

impl LaunchNonce {
    /// A fresh nonce and its text (for the launch URL).
    pub fn generate() -> anyhow::Result<(Self, String)> {
        let nonce = SessionSecret::generate()?;
        let text = nonce.expose().to_owned();
        Ok((Self(std::sync::Mutex::new(Some(nonce))), text))
    }

    /// True, once, for the right value; afterwards always false.
    pub fn redeem(&self, presented: &str) -> bool {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|n| n.matches(presented)) {
            *slot = None;
            return true;
        }
        false
    }
}

/// A per-launch cookie name, so a cookie of an earlier launch (or of another appliance on
/// the same port) is never even considered.
pub fn cookie_name(port: u16) -> anyhow::Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no OS randomness for the cookie name: {e}"))?;
    Ok(format!("airlock_{port}_{}", hex::encode(bytes)))
}

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_128_bit_and_compare_exactly() {
        let a = SessionSecret::generate().unwrap();
        let b = SessionSecret::generate().unwrap();
        assert_eq!(a.expose().len(), 32);
        assert_ne!(a.expose(), b.expose());
        assert!(a.matches(a.expose()));
        assert!(!a.matches(b.expose()));
        assert!(!a.matches(&a.expose()[..31]));
        assert!(!a.matches(""));
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn a_launch_nonce_works_once() {
        let (nonce, text) = LaunchNonce::generate().unwrap();
        assert!(!nonce.redeem("0123"));
        assert!(nonce.redeem(&text));
        assert!(!nonce.redeem(&text), "a second use fails");
        assert_ne!(cookie_name(80).unwrap(), cookie_name(80).unwrap());
    }
}
