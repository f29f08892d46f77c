// Opt-in: a real model does a small agent task inside the browser. Qwen2.5-Coder-0.5B-Instruct
// Q4_K_M is served by the appliance and loaded from the Models panel onto the in-browser engine
// (on SwiftShader the probe picks the CPU engine: the engine worker on every core); tool calls
// are decoded under the tools' schemas (inference/src/constrain.rs) and each step's prompt
// reuses the KV cache of the last. This test plays the person (play.mjs). Run by
// `cargo xtask test --qwen`. Prints one JSON line with the run's steps and timings
// (recorded in docs/AGENT.md).

import { test, before, after } from "node:test";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TASK, assertDone, openIde, playAgent } from "./play.mjs";

const MODEL = process.env.AIRLOCK_QWEN_CODER_GGUF;
const NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
const skip = !MODEL ? "needs AIRLOCK_QWEN_CODER_GGUF" : false;

let workspace, models, appliance, browser, page;

before(async () => {
  if (skip) return;
  models = mkdtempSync(join(tmpdir(), "airlock-models-"));
  symlinkSync(MODEL, join(models, NAME));
  ({ workspace, appliance, browser, page } = await openIde(["--models", models]));
});

after(async () => {
  await browser?.close();
  await appliance?.stop();
  for (const dir of [workspace, models]) if (dir) rmSync(dir, { recursive: true, force: true });
});

test("Qwen2.5-Coder-0.5B in the browser creates hello.py and runs it through the agent", { skip, timeout: 900_000 }, async () => {
  await page.locator(".models-toggle").click();
  const row = page.locator(`.model[data-name="${NAME}"]`);
  await row.locator(".load").click();
  await page.locator(".load-note", { hasText: NAME }).waitFor({ timeout: 300_000 });
  const engine = await row.locator(".engine").textContent();
  const run = await playAgent(page, { timeout: 600_000 });
  console.log(JSON.stringify({ model: "Qwen2.5-Coder-0.5B-Instruct Q4_K_M", engine, task: TASK, ...run }));
  if (process.env.AIRLOCK_SCREENSHOT) await page.screenshot({ path: process.env.AIRLOCK_SCREENSHOT });
  assertDone(workspace, run);
});
