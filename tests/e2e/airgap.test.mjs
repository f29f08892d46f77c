// The air gap as a person sees it: commands in the terminal panel stream their output from
// the network-free sandbox, curl is refused by policy, a raw socket fails at the OS, and the
// Evidence view shows loopback-only sockets and exports the evidence pack.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { makeWorkspace, startAppliance, launchBrowser } from "./harness.mjs";

let workspace, appliance, browser, page;

before(async () => {
  workspace = makeWorkspace({
    "README.md": "# Demo\n",
    ".airlock/policy.toml": "approval = []\n[commands]\ndeny = [\"curl\", \"wget\"]\ndefault = \"allow\"\n",
  });
  appliance = await startAppliance(workspace);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await page.goto(appliance.url);
  await page.locator('.airgap[data-state="active"]').waitFor();
});

after(async () => {
  await browser?.close();
  await appliance?.stop();
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

async function runInTerminal(command) {
  const input = page.getByRole("textbox", { name: "Command" });
  await input.waitFor();
  await input.fill(command);
  await input.press("Enter");
}

test("the terminal streams output from the sandbox", async () => {
  await page.locator(".terminal-toggle").click();
  await runInTerminal("echo first-line; sleep 2; echo second-line");
  const output = page.locator(".terminal-output");
  await output.locator(".term-stdout", { hasText: "first-line" }).waitFor();
  assert.equal(await output.locator(".term-info", { hasText: "[exit" }).count(), 0, "output arrives before the command ends");
  await output.locator(".term-info", { hasText: "[exit 0]" }).waitFor();
  assert.match(await output.textContent(), /first-line\s+second-line/);
});

test("the toolchains still run in the sandbox: cargo, git, python3, ls", async () => {
  await runInTerminal("cargo --version && git --version && python3 --version && ls -a");
  const output = page.locator(".terminal-output");
  await output.locator(".term-info", { hasText: "[exit 0]" }).nth(1).waitFor();
  const text = await output.textContent();
  assert.match(text, /cargo \d+\.\d+/);
  assert.match(text, /git version/);
  assert.match(text, /Python 3/);
});

test("curl is refused by the policy, with the rule shown", async () => {
  await runInTerminal("curl -sS http://127.0.0.1:9/");
  const refusal = page.locator(".terminal-output .term-refusal").last();
  await refusal.waitFor();
  assert.match(await refusal.textContent(), /Refused: the policy forbids this command \(rule: curl\)/);
});

test("a raw socket fails at the operating system", async () => {
  await runInTerminal("python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:9/', timeout=5)\"");
  const output = page.locator(".terminal-output");
  await output.locator(".term-stderr", { hasText: "Network is unreachable" }).first().waitFor();
  await output.locator(".term-info", { hasText: "[exit 1]" }).waitFor();
});

test("the Evidence view shows loopback-only sockets and exports the pack", async () => {
  await page.locator(".evidence-open").click();
  const dialog = page.getByRole("dialog", { name: "Egress evidence" });
  await dialog.locator('.verdict[data-clear="true"]').waitFor();
  const rows = dialog.locator(".sockets tbody tr");
  assert.ok(await rows.count() >= 2, "listener and at least one connection");
  assert.equal(await dialog.locator('.sockets tr[data-loopback="false"]').count(), 0);
  assert.match(await dialog.locator(".audit-line").textContent(), /^verified: /);
  const [download] = await Promise.all([page.waitForEvent("download"), dialog.locator(".export-pack").click()]);
  assert.match(download.suggestedFilename(), /^airlock-evidence-\d+\.tar$/);
  const listing = execFileSync("tar", ["-tf", await download.path()], { encoding: "utf8" });
  for (const name of ["evidence/report.json", "evidence/audit-session.jsonl", "evidence/policy.toml"]) {
    assert.ok(listing.includes(name), `${name} in ${listing}`);
  }
  // The workspace policy loosens the defaults: shown, ignored, until confirmed here.
  const loosenings = dialog.locator('.policy-loosenings[data-ignored="true"]');
  await loosenings.waitFor();
  assert.match(await loosenings.textContent(), /run_command runs without approval/);
  await loosenings.locator(".confirm-policy").click();
  await dialog.locator('.policy-loosenings[data-ignored="false"]').waitFor();
  const log = readFileSync(join(appliance.auditDir, "audit.jsonl"), "utf8");
  assert.match(log, /"action":"policy.confirm","target":"","outcome":"ok"/);
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
});
