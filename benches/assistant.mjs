// Bench: the assistant as a user meets it in headless Chromium (WebGPU; SwiftShader on machines
// without a GPU) — inline completion from the typing pause to the first ghost-text character
// and to the finished completion, and chat time to
// the first answer text, for SmolLM2-135M Q4_1 (no FIM tokens: prefix-only completion) and the
// tiny chat/FIM fixture (the UI's own overhead). Prints one JSON object. Run through
// `cargo xtask bench` (it sets AIRLOCK_BIN, AIRLOCK_CHROMIUM and AIRLOCK_SMOLLM2_GGUF).

import { copyFileSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeWorkspace, startAppliance, launchBrowser } from "../tests/e2e/harness.mjs";

const FIXTURE = new URL("../inference/tests/fixtures/models/qwen2/model-chat-fim-q8_0.gguf", import.meta.url).pathname;
const workspace = makeWorkspace({ "src/app.py": "def add(a, b):\n    return a + b\n\n" });
const models = mkdtempSync(join(tmpdir(), "airlock-bench-models-"));
symlinkSync(process.env.AIRLOCK_SMOLLM2_GGUF, join(models, "smollm2.gguf"));
copyFileSync(FIXTURE, join(models, "tiny-coder.gguf"));
const appliance = await startAppliance(workspace, ["--models", models]);
const browser = await launchBrowser();
const results = {};
try {
  const page = await browser.context.newPage();
  await page.goto(appliance.url);
  await page.locator('.tree-row[data-path="src"]').click();
  await page.locator('.tree-row[data-path="src/app.py"]').click();
  const showModels = async () => {
    if (!(await page.locator(".models-panel").isVisible())) await page.locator(".models-toggle").click();
  };
  for (const model of ["tiny-coder.gguf", "smollm2.gguf"]) {
    await showModels();
    await page.locator(".completion-debounce").fill("350");
    await page.locator(".completion-debounce").dispatchEvent("change");
    const loadStart = Date.now();
    await page.locator(`.model[data-name="${model}"] .load`).click();
    await page.locator(".load-note", { hasText: model }).waitFor({ timeout: 600_000 });
    const loadMs = Date.now() - loadStart;
    await page.locator(`.model[data-name="${model}"] input[type=radio]`).check();

    // Completion: the clock starts at the last keystroke (the pause includes the debounce).
    await page.locator(".cm-content").click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("def mul(a, b):\n    return");
    const typed = Date.now();
    await page.locator(".completion-status[data-state=running]").waitFor({ timeout: 60_000 });
    // First ghost-text character (streamed), then the finished completion.
    let firstGhostMs = null;
    await page.waitForFunction(() => document.querySelector(".cm-ghost") || ["shown", "empty"].includes(document.querySelector(".completion-status")?.dataset.state), null, { timeout: 600_000, polling: 20 });
    if (await page.locator(".cm-ghost").count()) firstGhostMs = Date.now() - typed;
    await page.waitForFunction(() => ["shown", "empty"].includes(document.querySelector(".completion-status")?.dataset.state), null, { timeout: 600_000 });
    const completionMs = Date.now() - typed;
    const shown = await page.evaluate(() => document.querySelector(".completion-status")?.dataset.state);
    await page.keyboard.press("Escape");

    // Chat: time to the first streamed text and to the end of a 16-token answer.
    await page.locator(".chat-tab").click();
    await page.locator(".new-chat").click();
    for (const chip of await page.locator(".attachments .chip-remove").all()) await chip.click();
    const input = page.locator(".chat-input textarea");
    await input.fill("Say hello.");
    const asked = Date.now();
    await input.press("Enter");
    await page.waitForFunction(() => (document.querySelector(".turn.assistant.streaming")?.textContent ?? "").replace("▍", "").length > 0, null, { timeout: 600_000, polling: 50 });
    const firstTextMs = Date.now() - asked;
    await page.locator(".stop-answer").click();
    await page.locator(".send").waitFor({ timeout: 600_000 });
    const stats = await page.evaluate(() => {
      const copy = document.querySelector(".chat-stats").cloneNode(true);
      copy.querySelector(".prompt-view")?.remove();
      return copy.textContent.trim();
    });
    results[model] = {
      load_ms: loadMs,
      completion_pause_to_first_ghost_char_ms: firstGhostMs,
      completion_pause_to_full_completion_ms: completionMs,
      completion_outcome: shown,
      chat_time_to_first_text_ms: firstTextMs,
      chat_stats: stats,
    };
    console.log(JSON.stringify({ bench: "assistant-browser", model, ...results[model] }));
    await showModels();
    await page.locator(`.model[data-name="${model}"] .unload`).click();
  }
  const version = browser.context.browser()?.version() ?? "chromium";
  console.log(JSON.stringify({ bench: "assistant-browser", browser: version, debounce_ms: 350, models: results }, null, 2));
} finally {
  await browser.close();
  await appliance.stop();
  rmSync(workspace, { recursive: true, force: true });
  rmSync(models, { recursive: true, force: true });
}
