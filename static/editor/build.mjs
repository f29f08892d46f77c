// Offline esbuild steps of `cargo xtask web`:
//   node static/editor/build.mjs editor OUT       bundle the CodeMirror editor into one ES module
//   node static/editor/build.mjs minify IN OUT    minify wasm-bindgen's glue (drops its doc comments)
// Licence comments go to OUT.LEGAL.txt and each bundled package's licence file to
// OUT.LICENSES.txt, instead of being dropped.
import { build } from "esbuild";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Writes OUT.LICENSES.txt: the licence file of every npm package the bundle contains. */
function writeLicences(metafile, outfile) {
  const packages = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
    if (match) packages.add(match[1]);
  }
  const sections = [...packages].sort().map((name) => {
    const dir = join("node_modules", name);
    const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
    const text = file ? readFileSync(join(dir, file), "utf8").trim() : `License: ${meta.license ?? "unknown"}`;
    return `${name} ${meta.version}\n${"-".repeat(40)}\n${text}\n`;
  });
  writeFileSync(`${outfile}.LICENSES.txt`, `Third-party software bundled in the Airlock editor\n\n${sections.join("\n")}`);
}

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
  const result = await build({ ...common, entryPoints: ["static/editor/index.js"], outfile: paths[0], metafile: true });
  writeLicences(result.metafile, paths[0]);
} else if (mode === "minify" && paths.length === 2) {
  await build({ ...common, entryPoints: [paths[0]], outfile: paths[1] });
} else {
  console.error("usage: build.mjs editor OUT | build.mjs minify IN OUT");
  process.exit(2);
}
