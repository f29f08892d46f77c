// Shared by the real-model agent runs: the IDE's agent gets a task in headless Chromium and
// this plays the person — it approves each command ("Always this session": a small model may
// repeat a command it already ran) and applies each reviewed edit as offered — until the run
// ends; then it checks the task was done.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { makeWorkspace, startAppliance, launchBrowser } from "../e2e/harness.mjs";

/** The task every real-model run gets. */
export const TASK = "Write hello.py with print('hello') in it, then run python3 hello.py.";

/** A scratch workspace served by the appliance (started with `args`) and open in headless
 *  Chromium: `{ workspace, appliance, browser, page }`. */
export async function openIde(args) {
  const workspace = makeWorkspace({ "README.md": "A scratch project.\n" });
  const appliance = await startAppliance(workspace, args);
  const browser = await launchBrowser();
  const page = await browser.context.newPage();
  await page.goto(appliance.url);
  await page.locator('.tree-row[data-path="README.md"]').waitFor();
  return { workspace, appliance, browser, page };
}

/** Runs `TASK` in agent mode on the active model; resolves with the run's steps and ending. */
export async function playAgent(page, { timeout = 540_000 } = {}) {
  await page.keyboard.press("Control+l");
  await page.locator(".agent-mode").click();
  const started = Date.now();
  const input = page.locator(".chat-input textarea");
  await input.fill(TASK);
  await input.press("Enter");
  const ended = page.locator(".agent-ending");
  for (;;) {
    const which = await Promise.race([
      ended.waitFor({ timeout }).then(() => "end"),
      page.locator(".approval-card .always").waitFor({ timeout }).then(() => "approve"),
      page.locator(".review-card .apply-edit").waitFor({ timeout }).then(() => "apply"),
    ]);
    if (which === "end") break;
    if (which === "approve") await page.locator(".approval-card .always").click().catch(() => {});
    if (which === "apply") await page.locator(".review-card .apply-edit").click().catch(() => {});
  }
  const seconds = (Date.now() - started) / 1000;
  const steps = await page.locator(".agent-step").evaluateAll((nodes) => nodes.map((n) => ({
    tool: n.dataset.tool,
    state: n.dataset.state,
    args: n.querySelector(".step-args")?.textContent,
    output: n.querySelector(".step-output")?.textContent?.slice(0, 200) ?? "",
    ms: n.querySelector(".step-ms")?.textContent,
  })));
  return { seconds, steps, ending: await ended.textContent() };
}

/** The task was done: every call readable, hello.py written, and a command ran it cleanly. */
export function assertDone(workspace, { steps }) {
  assert.ok(!steps.some((s) => s.tool === "(unreadable)"), "every call was readable");
  assert.ok(existsSync(join(workspace, "hello.py")), "hello.py was created");
  assert.match(readFileSync(join(workspace, "hello.py"), "utf8"), /print\(\s*["']hello/i);
  const ran = steps.find((s) => s.tool === "run_command" && s.state === "done" && /hello/i.test(s.output) && /exit code 0/.test(s.output));
  assert.ok(ran, `a command ran hello.py: ${JSON.stringify(steps)}`);
}
