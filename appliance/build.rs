//! Makes sure the embedded front-end folder exists, so the appliance compiles (with a page
//! that explains how to build the IDE) before `cargo xtask build` has produced the real one.

use std::path::Path;

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../static/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    if !dist.join("index.html").exists() {
        std::fs::create_dir_all(&dist).expect("create static/dist");
        std::fs::write(
            dist.join("index.html"),
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Airlock</title></head>\
             <body><p>The IDE front end is not built into this binary. Run <code>cargo xtask run</code>.</p></body></html>\n",
        )
        .expect("write placeholder index.html");
    }
}
