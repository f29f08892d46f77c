// Opt-in: a real model does a small agent task. llama.cpp's own `llama-server` (--jinja, so
// tool calls are constrained by its grammar for the model's template) serves
// Qwen2.5-Coder-0.5B-Instruct on loopback; a pinned admin policy allowlists it as the team
// server; the IDE's agent gets the task in headless Chromium, and this test plays the person
// (play.mjs). Run by `cargo xtask test --qwen` when a llama-server binary exists
// (docs/TEAM-SERVER.md). Prints one JSON line with the run's steps and timings (docs/AGENT.md).

import { test, before, after } from "node:test";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TASK, assertDone, openIde, playAgent } from "./play.mjs";

const SERVER = process.env.AIRLOCK_LLAMA_SERVER;
const MODEL = process.env.AIRLOCK_QWEN_CODER_GGUF;
const skip = !SERVER || !MODEL ? "needs AIRLOCK_LLAMA_SERVER and AIRLOCK_QWEN_CODER_GGUF" : false;

let llama, workspace, admin, appliance, browser, page;

async function freePort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

before(async () => {
  if (skip) return;
  const port = await freePort();
  llama = spawn(SERVER, ["-m", MODEL, "--alias", "qwen-coder", "--host", "127.0.0.1", "--port", String(port),
    "--jinja", "-c", "8192", "-t", "2", "--no-webui"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  llama.stderr.on("data", (d) => (log += d));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline || llama.exitCode !== null) throw new Error(`llama-server did not come up:\n${log.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  admin = mkdtempSync(join(tmpdir(), "airlock-admin-"));
  const policy = join(admin, "policy.toml");
  writeFileSync(policy, [
    "[[upstream]]",
    'name = "llama"',
    `base_url = "http://127.0.0.1:${port}/v1"`,
    'allow = ["127.0.0.1/32"]',
    'models = ["qwen-coder"]',
    "timeout_s = 300",
  ].join("\n"));
  ({ workspace, appliance, browser, page } = await openIde(["--policy", policy]));
});

after(async () => {
  await browser?.close();
  await appliance?.stop();
  llama?.kill("SIGTERM");
  for (const dir of [workspace, admin]) if (dir) rmSync(dir, { recursive: true, force: true });
});

// Known to fail (docs/AGENT.md): through llama-server the 0.5B model writes hello.py and then
// repeats the edit instead of running it, where the in-browser run of the same model, prompt
// and task goes on to the command. It runs and reports as a todo until that difference is
// found; the in-browser run (agent-qwen-browser.test.mjs) is the one held to pass.
const TODO = "through llama-server the 0.5B model repeats its edit instead of running hello.py";

test("Qwen2.5-Coder-0.5B creates hello.py and runs it through the agent", { skip, todo: TODO, timeout: 600_000 }, async () => {
  await page.locator(".models-toggle").click();
  await page.locator('.team-model[data-name="qwen-coder"] input[type="radio"]').check();
  const run = await playAgent(page);
  console.log(JSON.stringify({ model: "Qwen2.5-Coder-0.5B-Instruct Q4_K_M", server: "llama-server --jinja", task: TASK, ...run }));
  assertDone(workspace, run);
});
