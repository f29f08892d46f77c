// The assistant in a real browser against the real appliance, on the browser's WebGPU
// (SwiftShader here): the Models panel with SmolLM2's fit verdict, a load with progress, a
// reload served from the browser cache (zero model bytes from the appliance, counted), a
// corrupted cache entry fetched again, a model changed on disk refused; chat streaming with
// Stop and the open file in the rendered prompt; code blocks inserted and applied through a
// diff; inline completion with a FIM model (ghost text, cancel reaching the engine, Tab).
// UI tests use the tiny Qwen2 fixture with chat and FIM tokens (random weights: only the
// loop around the model is the point); the stored conversation with a code block is the one
// place an answer is written by the test rather than a model.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeWorkspace, startAppliance, launchBrowser } from "./harness.mjs";

const FIXTURES = new URL("../../inference/tests/fixtures/models/", import.meta.url).pathname;
const APP_PY = "def add(a, b):\n    return a + b\n\n# note: <|im_end|> stays text\nprint(add(1, 2))\n";
const SMOL = "smollm2-135m-q4_1.gguf";
const TINY = "tiny-coder.gguf";
let workspace, models, appliance, browser, page;

before(async () => {
  workspace = makeWorkspace({ "src/app.py": APP_PY, "README.md": "# Assistant\n" });
  models = mkdtempSync(join(tmpdir(), "airlock-models-"));
  copyFileSync(join(FIXTURES, "qwen2/model-chat-fim-q8_0.gguf"), join(models, TINY));
  copyFileSync(join(FIXTURES, "llama/model-q8_0.gguf"), join(models, "tamper-me.gguf"));
  const smollm2 = process.env.AIRLOCK_SMOLLM2_GGUF;
  if (!smollm2) throw new Error("AIRLOCK_SMOLLM2_GGUF is not set; run the suite through `cargo xtask test`");
  symlinkSync(smollm2, join(models, SMOL));
  appliance = await startAppliance(workspace, ["--models", models]);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on("pageerror", (error) => console.error("page error:", error.message));
  await page.goto(appliance.url);
  await page.locator('.tree-row[data-path="src"]').waitFor();
});

after(async () => {
  await browser?.close();
  await appliance?.stop();
  for (const dir of [workspace, models]) if (dir) rmSync(dir, { recursive: true, force: true });
});

const row = (name) => page.locator(`.model[data-name="${name}"]`);
const servedBytes = () => page.evaluate(async () => (await (await fetch("/api/models")).json()).served_bytes);

/** Opens src/app.py in the editor (expanding src first when needed). */
async function openAppPy() {
  const file = page.locator('.tree-row[data-path="src/app.py"]');
  if (!(await file.isVisible())) await page.locator('.tree-row[data-path="src"]').click();
  await file.click();
  await page.locator(".cm-content", { hasText: "def add" }).waitFor();
}

async function openModels() {
  if (!(await page.locator(".models-panel").isVisible())) await page.locator(".models-toggle").click();
  await page.locator(".models-panel").waitFor();
}

/** Loads `name` from the Models panel; resolves with the load note and the progress texts seen. */
async function load(name) {
  await openModels();
  await page.evaluate(() => {
    globalThis.__progress = [];
    globalThis.__progressObserver?.disconnect();
    globalThis.__progressObserver = new MutationObserver(() => {
      const text = document.querySelector(".progress-text")?.textContent;
      if (text && globalThis.__progress.at(-1) !== text) globalThis.__progress.push(text);
    });
    globalThis.__progressObserver.observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await row(name).locator(".load").click();
  const note = page.locator(".load-note", { hasText: name });
  await note.waitFor({ timeout: 240_000 });
  return { note: await note.textContent(), progress: await page.evaluate(() => globalThis.__progress) };
}

test("the Models panel shows SmolLM2's facts and a fit verdict for this browser", async () => {
  await openModels();
  const smol = row(SMOL);
  await smol.waitFor();
  const facts = await smol.locator(".model-facts").textContent();
  assert.match(facts, /llama · 135M params · F32\+Q4_1\+Q8_0 · 93\.8 MiB · context 8192/);
  const fit = smol.locator(".fit");
  await fit.and(page.locator('[data-verdict="ok"]')).waitFor();
  assert.match(await fit.textContent(), /^Fits this browser's memory \(CPU engine\): weights 9\d\.\d MiB \+ KV cache .*f32, 4096 positions.* \+ activations .* = \d{3}\.\d MiB$/);
  // Forcing WebGPU in the engine setting turns the verdict to the GPU's limits.
  await page.locator(".engine-choice").selectOption("gpu");
  await fit.filter({ hasText: /^Fits this browser's GPU: / }).waitFor();
  await page.locator(".engine-choice").selectOption("auto");
  await fit.filter({ hasText: /^Fits this browser's memory/ }).waitFor();
  assert.match(await page.locator(".adapter-note").textContent(), /software renderer \(google\/swiftshader\)/i);
  assert.match(await row(TINY).locator(".model-facts").textContent(), /qwen2 .* FIM \(qwen\)/);
});

test("SmolLM2 loads with progress; after a reload it comes from the browser cache with no bytes served", { timeout: 600_000 }, async () => {
  const fileBytes = statSync(process.env.AIRLOCK_SMOLLM2_GGUF).size;
  const before = await servedBytes();
  const first = await load(SMOL);
  assert.match(first.note, /^Loaded smollm2-135m-q4_1\.gguf from the appliance in/, first.note);
  assert.ok(first.progress.length >= 3, `progress was shown: ${JSON.stringify(first.progress)}`);
  assert.ok(first.progress.some((p) => /of 93\.8 MiB · \d+ of \d+ tensors/.test(p)), JSON.stringify(first.progress));
  assert.equal(await servedBytes() - before, fileBytes, "the whole file came from the appliance once");
  await row(SMOL).locator(".badge.cached").waitFor();
  assert.match(await row(SMOL).locator(".speed").textContent(), /^Measured in this browser: \d+\.\d\d tok\/s decoding$/);
  assert.match(await row(SMOL).locator('.engine[data-engine="cpu"]').textContent(),
    /^Runs on the CPU: the CPU is faster here: .* \(\d+ threads? in a worker\)$/);
  if (process.env.AIRLOCK_SCREENSHOT) await page.screenshot({ path: process.env.AIRLOCK_SCREENSHOT });

  await page.reload();
  await page.locator('.tree-row[data-path="src"]').waitFor();
  const between = await servedBytes();
  const second = await load(SMOL);
  assert.match(second.note, /from the browser cache/, second.note);
  assert.equal(await servedBytes(), between, "the appliance served zero model bytes for the cached load");
  await page.locator(".model-actions .unload").first().click();
});

test("a corrupted browser-cache entry is detected and the model fetched again", { timeout: 300_000 }, async () => {
  const first = await load(TINY);
  assert.doesNotMatch(first.note, /not kept/, first.note);
  const corrupted = await page.evaluate(async (name) => {
    const list = await (await fetch("/api/models")).json();
    const sha = list.models.find((m) => m.name === name).sha256;
    const cache = await caches.open("airlock-models");
    const key = `/model-cache/${sha}`;
    const bytes = new Uint8Array(await (await cache.match(key)).arrayBuffer());
    bytes[bytes.length - 1] ^= 0xff;
    await cache.put(key, new Response(bytes));
    return sha;
  }, TINY);
  assert.equal(corrupted.length, 64);
  await page.reload();
  await page.locator('.tree-row[data-path="src"]').waitFor();
  const before = await servedBytes();
  const again = await load(TINY);
  assert.match(again.note, /from the appliance/, `the bad entry was not used: ${again.note}`);
  assert.equal(await servedBytes() - before, statSync(join(models, TINY)).size);
  const healthy = await page.evaluate(async (sha) => {
    const bytes = new Uint8Array(await (await (await caches.open("airlock-models")).match(`/model-cache/${sha}`)).arrayBuffer());
    return bytes.length;
  }, corrupted);
  assert.equal(healthy, statSync(join(models, TINY)).size, "the cache holds the good bytes again");
});

test("one byte changed on disk: the model is marked damaged and its load refused", { timeout: 120_000 }, async () => {
  const path = join(models, "tamper-me.gguf");
  const bytes = readFileSync(path);
  bytes[bytes.length >> 1] ^= 1;
  writeFileSync(path, bytes);
  await openModels();
  await row("tamper-me.gguf").locator(".load").click();
  const error = page.locator(".load-note.error", { hasText: "tamper-me.gguf" });
  await error.waitFor();
  assert.match(await error.textContent(), /damaged/);
  await row("tamper-me.gguf").and(page.locator('[data-damaged="true"]')).waitFor();
  assert.equal(await row("tamper-me.gguf").locator(".load").count(), 0, "a damaged model offers no Load");
});

/** Presses Stop as soon as the first streamed text shows (from inside the page: no round trip). */
function stopOnFirstText() {
  return page.evaluate(() => {
    globalThis.__streamed = "";
    const observer = new MutationObserver(() => {
      const text = document.querySelector(".turn.assistant.streaming")?.textContent ?? "";
      if (text.replace("▍", "").length > 0 && !globalThis.__streamed) {
        globalThis.__streamed = text;
        document.querySelector(".stop-answer")?.click();
        observer.disconnect();
      }
    });
    observer.observe(document.querySelector(".transcript"), { subtree: true, childList: true, characterData: true });
  });
}

test("chat streams an answer with the open file in the prompt, Stop ends it, and it is kept", { timeout: 300_000 }, async () => {
  await openAppPy();
  await page.keyboard.press("Control+l");
  const input = page.locator(".chat-input textarea");
  await input.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Ask the assistant", "Ctrl+L focuses the chat");
  await page.locator('.attachments .chip[data-path="src/app.py"]').waitFor();
  await input.type("What does add do?");
  await input.press("Shift+Enter");
  await input.type("Answer briefly.");
  assert.equal(await input.inputValue(), "What does add do?\nAnswer briefly.", "Shift+Enter is a newline");
  await stopOnFirstText();
  await input.press("Enter");
  await page.locator(".chat-note", { hasText: "Stopped." }).waitFor({ timeout: 120_000 });
  assert.ok((await page.evaluate(() => globalThis.__streamed)).length > 0, "text streamed before Stop");
  await page.locator(".send").waitFor();
  assert.match(await page.locator(".chat-stats").textContent(), /\d+\.\d tok\/s · context \d+ of \d+ tokens/);
  await page.locator(".prompt-view summary").click();
  const prompt = await page.locator(".last-prompt").textContent();
  assert.ok(prompt.includes("<|im_start|>user\nsrc/app.py:\n```\n" + APP_PY + "```\n\nWhat does add do?\nAnswer briefly.<|im_end|>"), prompt);
  assert.ok(prompt.startsWith("<|im_start|>system\nYou are Airlock's coding assistant"), prompt);

  // A follow-up re-runs only what is new: the kept model's KV cache holds the shared start.
  await input.fill("And in one word?");
  await stopOnFirstText();
  await input.press("Enter");
  await page.locator(".chat-note", { hasText: "Stopped." }).waitFor({ timeout: 120_000 });
  await page.locator(".send").waitFor();
  assert.match(await page.locator(".chat-stats").textContent(), /tokens · \d+ prompt tokens reused/);

  await page.reload();
  await page.locator('.tree-row[data-path="src"]').waitFor();
  await page.locator(".chat-toggle").click();
  const option = page.locator(".chat-list option", { hasText: "What does add do?" });
  await option.waitFor({ state: "attached" });
  await page.locator(".chat-list").selectOption(await option.getAttribute("value"));
  await page.locator(".turn.user .text", { hasText: "What does add do?" }).first().waitFor();
  await page.locator(".turn.user .chip", { hasText: "src/app.py" }).first().waitFor();
});

test("a code block is inserted at the cursor and applied to a file through a diff", { timeout: 120_000 }, async () => {
  const answer = "Here is a safer version:\n\n```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\n";
  await page.evaluate(async (content) => {
    const conversation = { id: "00000000000000c0", title: "Typed add", updated_ms: Date.now(), turns: [
      { role: "user", content: "Add types", attachments: ["src/app.py (lines 1-2)"] },
      { role: "assistant", content, attachments: [] },
    ] };
    const saved = await fetch("/api/chats", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(conversation) });
    if (!saved.ok) throw new Error(`save failed: ${saved.status}`);
  }, answer);
  await page.reload();
  await page.locator('.tree-row[data-path="src"]').waitFor();
  await openAppPy();
  await page.locator(".chat-toggle").click();
  await page.locator(".chat-list option", { hasText: "Typed add" }).waitFor({ state: "attached" });
  await page.locator(".chat-list").selectOption("00000000000000c0");
  const block = page.locator(".turn.assistant .code-block");
  await block.waitFor();
  assert.ok(await block.locator(".tok-keyword").count() > 0, "the code block is highlighted");
  assert.equal(await page.locator(".turn.assistant .md p").first().textContent(), "Here is a safer version:");

  await page.locator(".cm-content").click();
  await page.keyboard.press("Control+End");
  await block.locator(".insert").click();
  await page.locator(".statusbar .message", { hasText: "Inserted the code block at the cursor in src/app.py" }).waitFor();
  const inserted = await page.evaluate(() => globalThis.airlockEditor.content("src/app.py"));
  assert.equal(inserted, APP_PY + "def add(a: int, b: int) -> int:\n    return a + b\n");
  await page.keyboard.press("Control+z");

  await block.locator(".apply").click();
  const review = page.locator(".apply-review");
  await review.waitFor();
  assert.match(await review.locator(".diff").textContent(), /-def add\(a, b\):\n\+def add\(a: int, b: int\) -> int:/);
  assert.equal(readFileSync(join(workspace, "src/app.py"), "utf8"), APP_PY, "nothing written before accepting");
  await review.locator(".accept").click();
  await page.locator(".statusbar .message", { hasText: "Saved src/app.py" }).waitFor();
  assert.equal(readFileSync(join(workspace, "src/app.py"), "utf8"), APP_PY.replace("def add(a, b):", "def add(a: int, b: int) -> int:"));
  const log = readFileSync(join(appliance.auditDir, "audit.jsonl"), "utf8");
  assert.ok(log.split("\n").some((l) => l.includes('"assistant.apply"') && l.includes("src/app.py")), "the apply is audited");
  assert.ok(log.split("\n").some((l) => l.includes('"assistant.chat"') && l.includes(TINY)), "the chat is audited");
  assert.ok(!log.includes("What does add do"), "the audit log holds no chat text");
});

test("inline completion: a pause shows ghost text, a keystroke cancels it in the engine, Tab accepts", { timeout: 300_000 }, async () => {
  await page.locator(".models-toggle").click();
  await page.locator(".completion-debounce").fill("150");
  await page.locator(".completion-debounce").dispatchEvent("change");
  if (!(await row(TINY).locator(".badge.loaded").count())) await load(TINY);
  await page.locator(`.model[data-name="${TINY}"] input[type=radio]`).check();
  await page.evaluate(() => {
    globalThis.__completion = [];
    new MutationObserver(() => {
      const el = document.querySelector(".completion-status");
      const entry = `${el?.dataset.state}|${el?.textContent}`;
      if (globalThis.__completion.at(-1) !== entry) globalThis.__completion.push(entry);
    }).observe(document.querySelector(".statusbar"), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await page.locator(".cm-content").click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type("def mul(a, b):\n    return a");
  await page.locator(".completion-status[data-state=running]").waitFor();
  await page.keyboard.type(" ");
  await page.waitForFunction(() => globalThis.__completion.some((e) => e.startsWith("cancelled|")), null, { timeout: 60_000 });
  const cancelled = await page.evaluate(() => globalThis.__completion.find((e) => e.startsWith("cancelled|")));
  assert.match(cancelled, /the engine stopped after \d+ tokens?/);

  const ghost = page.locator(".cm-ghost");
  await ghost.waitFor({ timeout: 120_000 });
  // The ghost text grows while the model writes it, then the finished completion stays.
  await page.locator(".completion-status[data-state=shown]").waitFor({ timeout: 120_000 });
  const streamed = await page.evaluate(() => globalThis.__completion.find((e) => e.startsWith("streaming|")));
  assert.match(streamed ?? "", /first text in \d+ ms/, "ghost text appeared before the completion finished");
  const shown = await page.evaluate(() => globalThis.airlockEditor.ghostText());
  assert.ok(shown && shown.length > 0);
  assert.match(await page.locator(".completion-status").textContent(), /Completion in \d+ ms/);
  const beforeTab = await page.evaluate(() => globalThis.airlockEditor.content("src/app.py"));
  await page.keyboard.press("Tab");
  await ghost.waitFor({ state: "detached" });
  const afterTab = await page.evaluate(() => globalThis.airlockEditor.content("src/app.py"));
  assert.equal(afterTab, beforeTab + shown, "Tab inserts exactly the ghost text");
});
