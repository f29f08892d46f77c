// Syntax highlighting for every language the IDE promises, and keyboard-only navigation of
// the file tree.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { makeWorkspace, startAppliance, launchBrowser } from "./harness.mjs";

const SAMPLES = {
  "a.rs": ["Rust", "fn main() { let x: u32 = 1; }\n"],
  "b.py": ["Python", "def f(x):\n    return x + 1\n"],
  "c.js": ["JavaScript", "const x = () => 42;\n"],
  "d.ts": ["TypeScript", "let x: number = 1;\n"],
  "e.go": ["Go", "package main\nfunc main() {}\n"],
  "F.java": ["Java", "class F { int x = 1; }\n"],
  "g.cpp": ["C/C++", "int main() { return 0; }\n"],
  "h.c": ["C/C++", "#include <stdio.h>\nint x = 1;\n"],
  "i.json": ["JSON", "{\"key\": true, \"n\": 1}\n"],
  "j.md": ["Markdown", "# Title\n\n*emphasis*\n"],
  "k.toml": ["TOML", "[package]\nname = \"x\"\n"],
  "l.yaml": ["YAML", "key: value\nlist:\n  - 1\n"],
  "m.sh": ["Shell", "echo \"hi\" && exit 0\n"],
};
let workspace, appliance, browser, page;

before(async () => {
  workspace = makeWorkspace({
    ...Object.fromEntries(Object.entries(SAMPLES).map(([path, [, text]]) => [path, text])),
    "src/lib.rs": "pub fn x() {}\n",
  });
  appliance = await startAppliance(workspace);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await page.goto(appliance.url);
  await page.locator('.tree-row[data-path="a.rs"]').waitFor();
});

after(async () => {
  await browser?.close();
  await appliance?.stop();
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

for (const [path, [language]] of Object.entries(SAMPLES)) {
  test(`${path} opens as ${language} with highlighted tokens`, async () => {
    await page.locator(`.tree-row[data-path="${path}"]`).click();
    await page.locator(`.tab.active[data-path="${path}"]`).waitFor();
    assert.equal(await page.locator(".statusbar .language").textContent(), language);
    // Highlighted tokens are spans with generated classes inside the editor's lines.
    await page.locator(".cm-content .cm-line span[class]").first().waitFor();
  });
}

test("the tree works from the keyboard alone", async () => {
  await page.locator('.tree-row[data-path="src"]').focus();
  await page.keyboard.press("ArrowRight");
  await page.locator('.tree-row[data-path="src/lib.rs"]').waitFor();
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.path), "src/lib.rs");
  await page.keyboard.press("Enter");
  await page.locator('.tab.active[data-path="src/lib.rs"]').waitFor();
  await page.locator('.tree-row[data-path="src/lib.rs"]').focus();
  await page.keyboard.press("ArrowLeft");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.path), "src");
  await page.keyboard.press("ArrowLeft");
  await page.locator('.tree-row[data-path="src/lib.rs"]').waitFor({ state: "detached" });
  await page.keyboard.press("ArrowDown");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.path), "a.rs");
});
