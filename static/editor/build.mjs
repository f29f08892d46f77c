// Offline esbuild steps of `cargo xtask web`:
//   node static/editor/build.mjs editor OUT       bundle the CodeMirror editor into one ES module
//   node static/editor/build.mjs minify IN OUT    minify wasm-bindgen's glue (drops its doc comments)
// Licence comments go to OUT.LEGAL.txt instead of being dropped.
import { build } from "esbuild";

const [mode, ...paths] = process.argv.slice(2);
const common = {
  bundle: true,
  format: "esm",
  minify: true,
  target: ["chrome113", "firefox121", "safari17"],
  legalComments: "external",
  logLevel: "warning",
};
if (mode === "editor" && paths.length === 1) {
  await build({ ...common, entryPoints: ["static/editor/index.js"], outfile: paths[0] });
} else if (mode === "minify" && paths.length === 2) {
  await build({ ...common, entryPoints: [paths[0]], outfile: paths[1] });
} else {
  console.error("usage: build.mjs editor OUT | build.mjs minify IN OUT");
  process.exit(2);
}
