// Bench: the engine inside headless Chromium (WebGPU; SwiftShader on machines without a GPU)
// on SmolLM2-135M Q4_1 — prefill and decode tok/s for both matrix-vector kernel shapes. Prints
// one JSON object. Run through `cargo xtask bench` (it sets AIRLOCK_BIN, AIRLOCK_CHROMIUM and
// AIRLOCK_SMOLLM2_GGUF).

import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeWorkspace, startAppliance, launchBrowser } from "../tests/e2e/harness.mjs";

const PROMPT = 16;
const DECODE = 16;

const workspace = makeWorkspace({ "README.md": "# bench\n" });
const models = mkdtempSync(join(tmpdir(), "airlock-bench-models-"));
symlinkSync(process.env.AIRLOCK_SMOLLM2_GGUF, join(models, "smollm2.gguf"));
const appliance = await startAppliance(workspace, ["--models", models]);
const browser = await launchBrowser();
try {
  const page = await browser.context.newPage();
  await page.goto(appliance.url);
  await page.waitForFunction(() => typeof globalThis.airlockEngine?.greedy === "function");
  const prompt = Array.from({ length: PROMPT }, (_, i) => 100 + ((i * 37) % 4000));
  const runs = {};
  let adapter = "";
  for (const shape of ["thread", "workgroup"]) {
    const r = await page.evaluate(([p, n, s]) => globalThis.airlockEngine.greedy("smollm2.gguf", p, n, { shape: s }), [prompt, DECODE, shape]);
    adapter = r.adapter;
    runs[shape] = {
      prefill_tokens_per_s: +(PROMPT / r.prefillMs * 1000).toFixed(2),
      decode_tokens_per_s: +((DECODE - 1) / r.decodeMs * 1000).toFixed(2),
      stream_and_upload_ms: Math.round(r.loadMs),
      peak_buffered_mib: +(r.peakBufferedBytes / 1048576).toFixed(1),
    };
  }
  const version = browser.context.browser()?.version() ?? "chromium";
  console.log(JSON.stringify({ bench: "engine-browser", model: "SmolLM2-135M-Instruct.Q4_1.gguf", browser: version, adapter, prompt_tokens: PROMPT, generated_tokens: DECODE, shapes: runs }, null, 2));
} finally {
  await browser.close();
  await appliance.stop();
  rmSync(workspace, { recursive: true, force: true });
  rmSync(models, { recursive: true, force: true });
}
