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
}
