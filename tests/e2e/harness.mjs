// Browser e2e harness: starts the real `airlock` binary over a temporary workspace and a real
// headless Chromium (Debian's, driven by playwright-core over CDP; nothing is downloaded).

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

/** Chromium flags: no background traffic, no sandbox (root in CI), WebGPU available. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--headless=new",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--no-first-run",
  "--enable-unsafe-webgpu",
];

/** Creates a workspace with a few files; returns its path. */
export function makeWorkspace(files) {
  const root = mkdtempSync(join(tmpdir(), "airlock-e2e-"));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

/** Starts `airlock serve` and resolves with { url, stop() } once it printed its launch URL. */
export async function startAppliance(workspace, extraArgs = []) {
  const binary = process.env.AIRLOCK_BIN;
  if (!binary) throw new Error("AIRLOCK_BIN is not set; run the suite through `cargo xtask test`");
  const auditDir = mkdtempSync(join(tmpdir(), "airlock-audit-"));
  const child = spawn(binary, ["serve", "--workspace", workspace, "--audit-dir", auditDir, ...extraArgs], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`airlock exited early with ${code}`)));
    lines.on("line", (line) => { if (line.startsWith("http://")) resolve(line.trim()); });
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    url,
    auditDir,
    async stop() { child.kill("SIGTERM"); await exited; rmSync(auditDir, { recursive: true, force: true }); },
  };
}

/** Launches headless Chromium with a fresh profile. */
export async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), "airlock-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.AIRLOCK_CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    async close() { await context.close(); rmSync(profile, { recursive: true, force: true }); },
  };
}
