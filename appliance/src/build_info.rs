//! What build this is, for `airlock --version`, the status report and the evidence pack: a
//! reviewer can tie a running appliance to the artifact an administrator deployed.

/// The package version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit and date of a packaged build (`cargo xtask dist` sets `AIRLOCK_BUILD`), or
/// "development build".
pub const BUILD: &str = match option_env!("AIRLOCK_BUILD") {
    Some(build) => build,
    None => "development build",
};

/// One line: version, build, target.
pub fn describe() -> String {
    format!(
        "{VERSION} ({BUILD}; {}-{})",
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}
