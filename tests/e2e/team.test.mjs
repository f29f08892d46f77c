// The team server as the IDE's backend, in a real browser against the real appliance: a pinned
// admin policy names a stand-in OpenAI-compatible server on loopback (the model is the only
// double — this test is about the loop: Models pane → chat → appliance relay → server and back);
// the Models pane lists its model, chat streams its answer, the call is audited, and the
// server never sees the browser's cookies. The real llama.cpp server is driven by
// tests/team_server.rs.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeWorkspace, startAppliance, launchBrowser } from "./harness.mjs";

const ANSWER = ["Hello", " from", " the", " team", " server."];
let workspace, admin, server, requests = [], appliance, browser, page;

before(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (req.url === "/v1/models") {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: [{ id: "coder-7b", object: "model", max_model_len: 16384 }] }));
        return;
      }
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      for (const piece of ANSWER) res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: piece } }] })}\n\n`);
      res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 42, completion_tokens: ANSWER.length } })}\n\n`);
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  admin = mkdtempSync(join(tmpdir(), "airlock-admin-"));
  const policy = join(admin, "policy.toml");
  writeFileSync(policy, [
    "[[upstream]]",
    'name = "gpu"',
    `base_url = "http://127.0.0.1:${server.address().port}/v1"`,
    'allow = ["127.0.0.1/32"]',
    'models = ["coder-7b", "offline-13b"]',
  ].join("\n"));
  workspace = makeWorkspace({ "src/app.py": "print('hi')\n" });
  appliance = await startAppliance(workspace, ["--policy", policy]);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on("pageerror", (error) => console.error("page error:", error.message));
  await page.goto(appliance.url);
  await page.locator('.tree-row[data-path="src"]').waitFor();
});

after(async () => {
  await browser?.close();
  await appliance?.stop();
  await new Promise((resolve) => server?.close(resolve));
  for (const dir of [workspace, admin]) if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the Models pane offers the team server's models and chat streams through the appliance", async () => {
  await page.locator(".models-toggle").click();
  const coder = page.locator('.team-model[data-name="coder-7b"]');
  await coder.waitFor();
  assert.equal(await coder.getAttribute("data-available"), "true");
  assert.match(await coder.locator(".model-facts").textContent(), /^Runs on the team's server \(context 16384 tokens\)/,
    "the context the server lists is shown");
  assert.equal(
    await page.locator('.team-model[data-name="offline-13b"]').getAttribute("data-available"),
    "false",
    "a configured model the server does not list is shown as unavailable",
  );
  await coder.locator('input[type="radio"]').check();
  await page.locator(".active-model", { hasText: "team:coder-7b" }).waitFor();

  await page.keyboard.press("Control+l");
  const input = page.locator(".chat-input textarea");
  await input.waitFor();
  await input.type("Say hello");
  await input.press("Enter");
  await page.locator(".turn.assistant", { hasText: ANSWER.join("") }).waitFor({ timeout: 30_000 });
  await page.locator(".send").waitFor();
  assert.match(await page.locator(".chat-stats").textContent(), / of 16384 tokens/, "the conversation was fitted in the listed context");

  const chat = requests.find((r) => r.url === "/v1/chat/completions");
  assert.ok(chat, `the server got the chat: ${JSON.stringify(requests.map((r) => r.url))}`);
  const sent = JSON.parse(chat.body);
  assert.equal(sent.model, "coder-7b");
  assert.equal(sent.stream, true);
  assert.ok(sent.messages.some((m) => m.role === "user" && m.content.includes("Say hello")));
  assert.equal(chat.headers.cookie, undefined, "the browser's cookies never reach the server");
  assert.equal(chat.headers.origin, undefined);

  const log = readFileSync(join(appliance.auditDir, "audit.jsonl"), "utf8");
  const call = log.split("\n").find((l) => l.includes('"llm.call"') && l.includes("/chat/completions"));
  assert.ok(call, "the relayed call is audited");
  assert.match(JSON.parse(call).outcome, /^ok: model coder-7b, 42 prompt tokens, 5 completion tokens/);
  assert.ok(!log.includes("Say hello") && !log.includes("team server."), "no chat text in the audit log");
});
