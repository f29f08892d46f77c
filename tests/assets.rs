//! "No external URL ships": every embedded asset is scanned for http(s) URLs the page could
//! load. The only exceptions are listed here, each with its reason.

use airlock_appliance::assets::WebAssets;

/// URLs that are identifiers, never fetched: XML namespace names used by createElementNS
/// and SVG's xmlns attribute.
const NAMESPACE_IDENTIFIERS: &[&str] = &[
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1998/Math/MathML",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/XML/1998/namespace",
    "http://www.w3.org/2000/xmlns/",
];

/// Files of licence text: shown to people, never loaded as a resource.
fn is_licence_text(name: &str) -> bool {
    name.starts_with("assets/third-party-notices-") && name.ends_with(".txt")
}

/// Every `http://` or `https://` followed by a host in `bytes`.
fn urls_in(bytes: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for scheme in [b"http://".as_slice(), b"https://".as_slice()] {
        let mut start = 0;
        while let Some(offset) = bytes[start..]
            .windows(scheme.len())
            .position(|w| w.eq_ignore_ascii_case(scheme))
        {
            let at = start + offset;
            let rest = &bytes[at + scheme.len()..];
            let len = rest
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(b))
                .count();
            let host_len = rest
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(b))
                .count();
            if host_len > 0 {
                let url = String::from_utf8_lossy(&bytes[at..at + scheme.len() + len]);
                found.push(url.trim_end_matches(['\'', ')', ',', ';', '.']).to_owned());
            }
            start = at + scheme.len();
        }
    }
    found
}

#[test]
fn the_scanner_finds_urls() {
    assert_eq!(
        urls_in(b"fetch(\"https://cdn.example.com/x.js\")"),
        ["https://cdn.example.com/x.js"]
    );
    assert_eq!(
        urls_in(b"x='HTTP://10.0.0.1:8080/a'"),
        ["HTTP://10.0.0.1:8080/a"]
    );
    assert!(
        urls_in(b"r=\"https://\"+r").is_empty(),
        "a bare scheme prefix is not a URL"
    );
}

#[test]
fn no_embedded_asset_carries_an_external_url() {
    let names: Vec<String> = WebAssets::iter().map(|n| n.into_owned()).collect();
    assert!(
        names.iter().any(|n| n.ends_with(".wasm"))
            && names.iter().any(|n| n.starts_with("assets/editor-")),
        "the front end is not built into the appliance (run `cargo xtask web`): {names:?}"
    );
    let mut offenders = Vec::new();
    for name in &names {
        if is_licence_text(name) {
            continue;
        }
        let file = WebAssets::get(name).unwrap();
        for url in urls_in(&file.data) {
            if !NAMESPACE_IDENTIFIERS.contains(&url.as_str()) {
                offenders.push(format!("{name}: {url}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "external URLs in shipped assets:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn index_references_only_local_fingerprinted_assets() {
    let index = WebAssets::get("index.html").expect("index.html embedded");
    let html = String::from_utf8_lossy(&index.data);
    let mut refs = 0;
    for attr in ["src=\"", "href=\""] {
        for piece in html.split(attr).skip(1) {
            let target = piece.split('"').next().unwrap();
            refs += 1;
            assert!(
                target.starts_with("/assets/"),
                "non-local reference {target}"
            );
            assert!(
                WebAssets::get(target.trim_start_matches('/')).is_some(),
                "{target} is not embedded"
            );
        }
    }
    assert!(
        refs >= 4,
        "expected stylesheet, icon, editor and boot script, found {refs}"
    );
    // The engine worker's script, where this build has one (the browser suite requires it).
    let marker = "name=\"airlock-engine-worker\" content=\"";
    let worker = html
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("index.html names the engine worker's script (empty when not built)");
    if !worker.is_empty() {
        assert!(
            worker.starts_with("/assets/engine-worker-"),
            "engine worker {worker}"
        );
        let script = WebAssets::get(worker.trim_start_matches('/'))
            .unwrap_or_else(|| panic!("{worker} is not embedded"));
        let script = String::from_utf8_lossy(&script.data);
        let named: Vec<String> = script
            .split("\"./")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(|name| format!("assets/{name}"))
            .collect();
        assert!(
            named.iter().any(|n| n.ends_with(".wasm")) && named.iter().any(|n| n.ends_with(".js")),
            "the worker script names its module and glue: {named:?}"
        );
        for name in &named {
            assert!(WebAssets::get(name).is_some(), "{name} is not embedded");
        }
    }
}
