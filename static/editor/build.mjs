// Bundles the editor into one ES module with esbuild, offline. Licence comments go to a
// separate file next to the bundle instead of being dropped.
import { build } from "esbuild";

const outfile = process.argv[2] ?? "static/dist/editor.js";
await build({
  entryPoints: ["static/editor/index.js"],
  bundle: true,
  format: "esm",
  minify: true,
  target: ["chrome113", "firefox121", "safari17"],
  legalComments: "external",
  outfile,
  logLevel: "warning",
});
