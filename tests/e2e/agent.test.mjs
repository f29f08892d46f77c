// The agent loop in a real browser against the real appliance: real tools, guard, policy,
// sandbox and audit. The model is the only double: a stand-in OpenAI-compatible server on
// loopback (named in a pinned admin policy, as a team server is) plays recorded turns, chosen
// by the task's keyword and the number of turns so far. It answers with both call forms the
// IDE reads: OpenAI's streamed `tool_calls` and Qwen's `<tool_call>` text.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeWorkspace, startAppliance, launchBrowser } from "./harness.mjs";

const GREET = ["#!/bin/sh", "# greet: prints the greeting", 'echo "helo"',
  ...Array.from({ length: 8 }, (_, i) => `# filler ${i + 4}`), "# end of greet", ""].join("\n");
const PROPOSED = GREET.replace('echo "helo"', 'echo "hello"').replace("# end of greet", "# end of greet (edited)");
const TEST_SH = '[ "$(sh greet.sh)" = "hello" ] && echo PASS || { echo FAIL; exit 1; }\n';

/** A turn whose calls come as OpenAI `tool_calls` deltas, the arguments in fragments. */
const structured = (text, name, args) => ({ text, calls: [{ name, args }] });
/** A turn whose call is written into the text, as Qwen2.5 writes it. */
const hermes = (text, name, args) => ({ text: `${text}\n<tool_call>\n${JSON.stringify({ name, arguments: args })}\n</tool_call>` });

const SCRIPTS = {
  "fix greet": [
    structured("Let me read it.", "read_file", { path: "greet.sh" }),
    hermes("And the password file.", "read_file", { path: "../../etc/passwd" }),
    hermes("Fetching docs.", "run_command", { command: "curl http://example.com" }),
    structured("", "apply_edit", { path: "greet.sh", content: PROPOSED }),
    hermes("Testing.", "run_command", { command: "sh test.sh" }),
    { text: "Fixed greet.sh; the test passes." },
  ],
  "clean up": [
    hermes("", "run_command", { command: "rm -rf build" }),
    { text: "OK, I did not run it." },
  ],
  "summarize the open file": [
    { text: "It prints a greeting." },
  ],
  "count slowly": [
    hermes("", "run_command", { command: "for i in $(seq 1 600); do echo tick $i; sleep 0.1; done" }),
    { text: "never reached" },
  ],
};

let workspace, admin, server, requests = [], appliance, browser, page;

function reply(res, turn) {
  res.writeHead(200, { "Content-Type": "text/event-stream" });
  const send = (delta, finish = null) =>
    res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
  for (const piece of turn.text.match(/[\s\S]{1,12}/g) ?? []) send({ content: piece });
  (turn.calls ?? []).forEach((call, index) => {
    send({ tool_calls: [{ index, id: `srv_${index}`, type: "function", function: { name: call.name, arguments: "" } }] });
    const args = JSON.stringify(call.args);
    for (let at = 0; at < args.length; at += 20) send({ tool_calls: [{ index, function: { arguments: args.slice(at, at + 20) } }] });
  });
  send({}, turn.calls ? "tool_calls" : "stop");
  res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 100, completion_tokens: 10 } })}\n\n`);
  res.end("data: [DONE]\n\n");
}

before(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (req.url === "/v1/models") {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: [{ id: "script", object: "model" }] }));
        return;
      }
      const sent = JSON.parse(body);
      requests.push(sent);
      const task = sent.messages.find((m) => m.role === "user")?.content ?? "";
      const script = Object.entries(SCRIPTS).find(([key]) => task.includes(key))?.[1];
      const turn = script?.[sent.messages.filter((m) => m.role === "assistant").length];
      if (!turn) {
        res.writeHead(500, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ error: { message: `no recorded turn for ${task}` } }));
        return;
      }
      reply(res, turn);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  admin = mkdtempSync(join(tmpdir(), "airlock-admin-"));
  const policy = join(admin, "policy.toml");
  writeFileSync(policy, [
    "[commands]",
    'deny = ["curl"]',
    "[[upstream]]",
    'name = "recorded"',
    `base_url = "http://127.0.0.1:${server.address().port}/v1"`,
    'allow = ["127.0.0.1/32"]',
    'models = ["script"]',
  ].join("\n"));
  workspace = makeWorkspace({ "greet.sh": GREET, "test.sh": TEST_SH });
  appliance = await startAppliance(workspace, ["--policy", policy]);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on("pageerror", (error) => console.error("page error:", error.message));
  await page.goto(appliance.url);
  await page.locator('.tree-row[data-path="greet.sh"]').waitFor();
  await page.locator(".models-toggle").click();
  await page.locator('.team-model[data-name="script"] input[type="radio"]').check();
  await page.locator(".active-model", { hasText: "team:script" }).waitFor();
  await page.keyboard.press("Control+l");
  await page.locator(".agent-mode").click();
  assert.equal(await page.locator(".agent-mode").getAttribute("aria-pressed"), "true");
});

after(async () => {
  await browser?.close();
  await appliance?.stop();
  await new Promise((resolve) => server?.close(resolve));
  for (const dir of [workspace, admin]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(task) {
  const input = page.locator(".chat-input textarea");
  await input.fill(task);
  await input.press("Enter");
}

const step = (n) => page.locator(".agent-step").nth(n);
const audit = () => readFileSync(join(appliance.auditDir, "audit.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));

/** Polls the audit log (the appliance writes it as calls end) until `find` matches. */
async function auditRecord(find, what) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const record = audit().find(find);
    if (record) return record;
    if (Date.now() > deadline) throw new Error(`no audit record: ${what}`);
    await page.waitForTimeout(100);
  }
}

test("a multi-step task: read, refused calls shown, reviewed edit, approved test run, answer, undo", async () => {
  await run("fix greet so that the test passes");

  // 1. read_file through the tool API: its content is the step's output.
  await step(0).and(page.locator('[data-state="done"]')).waitFor();
  assert.equal(await step(0).getAttribute("data-tool"), "read_file");
  assert.match(await step(0).locator(".step-output").textContent(), /echo "helo"/);
  assert.match(await step(0).locator(".step-ms").textContent(), /\d+ ms/);

  // 2. A path outside the workspace: refused by the guard, shown, and the loop goes on.
  await step(1).and(page.locator('[data-state="refused"]')).waitFor();
  assert.match(await step(1).locator(".step-state").textContent(), /outside|workspace/i);
  // 3. curl: refused by the admin policy's command rule.
  await step(2).and(page.locator('[data-state="refused"]')).waitFor();
  assert.match(await step(2).locator(".step-state").textContent(), /curl/);

  // 4. The edit waits for the per-hunk review; the second change is rejected.
  const review = page.locator(".review-card");
  await review.waitFor();
  assert.equal(await review.locator(".hunk").count(), 2);
  assert.equal(readFileSync(join(workspace, "greet.sh"), "utf8"), GREET, "nothing written before the review");
  await review.locator(".hunk").nth(1).locator(".hunk-toggle").click();
  await review.locator('.hunk[data-accepted="false"]').waitFor();
  await review.locator(".apply-edit").click();
  await step(3).and(page.locator('[data-state="done"]')).waitFor();
  const written = readFileSync(join(workspace, "greet.sh"), "utf8");
  assert.equal(written, GREET.replace('echo "helo"', 'echo "hello"'), "only the kept hunk is written");

  // 5. The test run waits for approval of exactly this command, then runs in the sandbox.
  const card = page.locator(".approval-card");
  await card.waitFor();
  assert.equal(await card.locator(".approval-shown").textContent(), "sh test.sh");
  await card.locator(".approve").click();
  await step(4).and(page.locator('[data-state="done"]')).waitFor();
  assert.match(await step(4).locator(".step-output").textContent(), /PASS[\s\S]*exit code 0/);

  // 6. The model answers; the run ends.
  await page.locator(".agent-answer", { hasText: "Fixed greet.sh; the test passes." }).waitFor();
  assert.equal(await page.locator(".agent-ending").textContent(), "Done.");

  // What the model was given: the tools, and every result in order.
  assert.equal(requests.length >= 6, true);
  const last = requests.at(-1);
  assert.deepEqual(last.tools.map((t) => t.function.name), ["apply_edit", "run_command", "read_file", "list_dir", "search", "propose_edit", "git"]);
  const results = last.messages.filter((m) => m.role === "tool");
  assert.equal(results.length, 5);
  assert.match(results[0].content, /echo "helo"/);
  assert.match(results[1].content, /^refused: /);
  assert.match(results[2].content, /^refused: .*curl/);
  assert.match(results[3].content, /1 of 2 changes kept/);
  assert.match(results[4].content, /^exit code 0\nPASS/);
  const calls = last.messages.filter((m) => m.role === "assistant").flatMap((m) => m.tool_calls ?? []);
  assert.deepEqual(calls.map((c) => c.id), results.map((r) => r.tool_call_id), "each result answers its call");

  // The appliance recorded each call, the grant and the command's exit.
  const records = audit();
  for (const action of ["tool.read_file", "tool.apply_edit", "tool.run_command", "approval.granted", "assistant.agent"]) {
    assert.ok(records.some((r) => r.action === action), `audited: ${action}`);
  }
  await auditRecord((r) => r.action === "command.exit" && r.target === "sh test.sh" && r.outcome === "exit=0", "the test run's exit");

  // Undo puts the file back.
  await page.locator(".undo-agent").click();
  await page.locator(".agent-note", { hasText: "Undid the agent's change to greet.sh" }).waitFor();
  assert.equal(readFileSync(join(workspace, "greet.sh"), "utf8"), GREET);
});

test("a denied approval stops the step and the model hears it", async () => {
  await run("clean up the build folder");
  const card = page.locator(".approval-card");
  await card.waitFor();
  assert.equal(await card.locator(".approval-shown").textContent(), "rm -rf build");
  await card.locator(".deny").click();
  await step(0).and(page.locator('[data-state="denied"]')).waitFor();
  await page.locator(".agent-answer", { hasText: "OK, I did not run it." }).waitFor();
  const told = requests.at(-1).messages.filter((m) => m.role === "tool");
  assert.match(told[0].content, /^denied/);
  await auditRecord((r) => r.action === "approval.denied" && r.target.includes("rm -rf build"), "the denial");
  assert.ok(!audit().some((r) => r.action === "command.exit" && r.target === "rm -rf build"), "the command never ran");
});

test("the open file is attached to the agent's task, as in chat", async () => {
  await page.locator('.tree-row[data-path="greet.sh"]').click();
  await page.locator(".cm-content", { hasText: "# greet: prints the greeting" }).waitFor();
  await page.locator('.attachments .chip[data-path="greet.sh"]').waitFor();
  await run("summarize the open file");
  await page.locator(".agent-answer", { hasText: "It prints a greeting." }).waitFor();
  const user = requests.at(-1).messages.find((m) => m.role === "user").content;
  assert.ok(user.startsWith("greet.sh:\n```\n" + GREET), user);
  assert.ok(user.endsWith("```\n\nsummarize the open file"), user);
});

test("Stop kills the running command", async () => {
  await run("count slowly to sixty");
  const card = page.locator(".approval-card");
  await card.waitFor();
  await card.locator(".approve").click();
  await step(0).locator(".step-output", { hasText: "tick 2" }).waitFor({ timeout: 20_000 });
  await page.locator(".stop-answer").click();
  await step(0).and(page.locator('[data-state="cancelled"]')).waitFor();
  assert.equal(await page.locator(".agent-ending").textContent(), "Stopped.");
  const exit = await auditRecord((r) => r.action === "command.exit" && r.target.startsWith("for i in"), "the command's end");
  assert.equal(exit.outcome, "cancelled", "the sandbox killed it when the page closed the call");
  await page.locator(".send").waitFor();
});

test("closing the tab stops the running command", async () => {
  const second = await browser.context.newPage();
  await second.goto(appliance.url);
  await second.locator('.tree-row[data-path="greet.sh"]').waitFor();
  await second.locator(".models-toggle").click();
  await second.locator('.team-model[data-name="script"] input[type="radio"]').check();
  await second.keyboard.press("Control+l");
  await second.locator(".agent-mode").click();
  const input = second.locator(".chat-input textarea");
  await input.fill("count slowly, then close the tab");
  await input.press("Enter");
  await second.locator(".approval-card .approve").click();
  await second.locator(".agent-step .step-output", { hasText: "tick 2" }).waitFor({ timeout: 20_000 });
  const before = audit().filter((r) => r.action === "command.exit" && r.target.startsWith("for i in")).length;
  await second.close();
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ends = audit().filter((r) => r.action === "command.exit" && r.target.startsWith("for i in"));
    if (ends.length > before) {
      assert.equal(ends.at(-1).outcome, "cancelled", "the sandbox killed it when the tab went away");
      break;
    }
    if (Date.now() > deadline) throw new Error("the command was not stopped when its tab closed");
    await page.waitForTimeout(100);
  }
});
