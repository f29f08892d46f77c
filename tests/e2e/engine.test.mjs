// The inference engine in the browser: headless Chromium's WebGPU (SwiftShader on CI machines)
// runs the same WGSL kernels as the native engine. Greedy tokens must equal the native engine's
// (which equal transformers', see inference/tests) for tiny Llama/Qwen3 models and SmolLM2.
// Model files come from the appliance's --models folder, stream onto the GPU tensor by tensor
// (the page never holds the whole file), and each download is in the audit log.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeWorkspace, startAppliance, launchBrowser } from "./harness.mjs";

const FIXTURES = new URL("../../inference/tests/fixtures/", import.meta.url).pathname;
let workspace, models, appliance, browser, page;

before(async () => {
  workspace = makeWorkspace({ "README.md": "# Engine\n" });
  models = mkdtempSync(join(tmpdir(), "airlock-models-"));
  copyFileSync(join(FIXTURES, "models/llama/model-q8_0.gguf"), join(models, "tiny-llama-q8_0.gguf"));
  copyFileSync(join(FIXTURES, "models/qwen2/model-q6_k.gguf"), join(models, "tiny-qwen2-q6_k.gguf"));
  copyFileSync(join(FIXTURES, "models/qwen3/model-q4_k.gguf"), join(models, "tiny-qwen3-q4_k.gguf"));
  const smollm2 = process.env.AIRLOCK_SMOLLM2_GGUF;
  if (!smollm2) throw new Error("AIRLOCK_SMOLLM2_GGUF is not set; run the suite through `cargo xtask test`");
  symlinkSync(smollm2, join(models, "smollm2-135m-q4_1.gguf"));
  appliance = await startAppliance(workspace, ["--models", models]);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await page.goto(appliance.url);
  await page.waitForFunction(() => typeof globalThis.airlockEngine?.greedy === "function");
});

after(async () => {
  await browser?.close();
  await appliance?.stop();
  for (const dir of [workspace, models]) if (dir) rmSync(dir, { recursive: true, force: true });
});

function greedy(name, prompt, count, options = {}) {
  return page.evaluate(([n, p, c, o]) => globalThis.airlockEngine.greedy(n, p, c, o), [name, prompt, count, options]);
}

for (const [family, file, caseName] of [
  ["llama", "tiny-llama-q8_0.gguf", "gguf-q8_0"],
  ["qwen2", "tiny-qwen2-q6_k.gguf", "gguf-q6_k"],
  ["qwen3", "tiny-qwen3-q4_k.gguf", "gguf-q4_k"],
]) {
  test(`tiny ${family} on WebGPU gives the native greedy tokens`, { timeout: 300_000 }, async () => {
    const reference = JSON.parse(readFileSync(join(FIXTURES, `models/${family}/reference.json`), "utf8"));
    for (const shape of ["thread", "workgroup"]) {
      const result = await greedy(file, reference.prompt_ids, 32, { shape, engine: "gpu" });
      assert.equal(result.engine, "gpu", result.engineReason);
      assert.deepEqual(result.tokens, reference.cases[caseName].greedy, `${shape} on ${result.adapter}`);
    }
    const f16 = await page.evaluate(async () => (await navigator.gpu.requestAdapter()).features.has("shader-f16"));
    const fromText = await greedy(file, reference.prompt, 8, { engine: "gpu" });
    assert.equal(fromText.kvCache, f16 ? "F16" : "F32", "the KV cache is f16 exactly where the adapter has shader-f16");
    assert.equal(fromText.promptTokens, reference.prompt_ids.length, "the page tokenizer gives the same ids");
    assert.deepEqual(fromText.tokens, reference.cases[caseName].greedy.slice(0, 8));
  });
}

test("SmolLM2-135M Q4_1 on WebGPU gives the native greedy tokens", { timeout: 600_000 }, async () => {
  const reference = JSON.parse(readFileSync(join(FIXTURES, "real/smollm2.json"), "utf8"));
  const plain = reference.greedy.find((g) => g.label === "plain");
  const result = await greedy("smollm2-135m-q4_1.gguf", plain.prompt_ids, 16, { engine: "gpu" });
  assert.deepEqual(result.tokens, plain.transformers.slice(0, 16), `adapter: ${result.adapter}`);
  const fileBytes = statSync(process.env.AIRLOCK_SMOLLM2_GGUF).size;
  assert.ok(result.peakBufferedBytes < fileBytes / 2,
    `streamed to the GPU: at most ${result.peakBufferedBytes} of ${fileBytes} bytes were held in the page`);
  console.log(`# SmolLM2 in the browser on ${result.adapter}: ` +
    `stream+upload ${Math.round(result.loadMs)} ms (peak ${(result.peakBufferedBytes / 1048576).toFixed(1)} MiB buffered of ${(fileBytes / 1048576).toFixed(1)} MiB), prefill ${(plain.prompt_ids.length / result.prefillMs * 1000).toFixed(2)} tok/s, ` +
    `decode ${(15 / result.decodeMs * 1000).toFixed(2)} tok/s (${result.shape} kernels)`);
});

test("the CPU engine's WebAssembly SIMD kernels agree with the portable loop for every format", async () => {
  const summary = await page.evaluate(() => globalThis.airlockEngine.kernelSelfTest());
  // 7 formats: the unpacked-row kernel and the several-token kernel for each, the block kernel
  // for the five formats decode reads straight from the file.
  assert.equal(summary, "19 kernel products over 7 formats agree with the portable loop");
  // The engine worker is a separate, threaded build (SIMD128 everywhere): its kernels are
  // checked in the worker, after its two pool threads have started.
  const worker = await page.evaluate(() => globalThis.airlockEngine.workerSelfTest(2));
  assert.equal(worker, "19 kernel products over 7 formats agree with the portable loop (engine worker, 2 threads)");
});

test("the load-time probe picks the CPU engine on SwiftShader, the user can override it, and both give SmolLM2's transformers tokens", { timeout: 600_000 }, async () => {
  const reference = JSON.parse(readFileSync(join(FIXTURES, "real/smollm2.json"), "utf8"));
  const file = "smollm2-135m-q4_1.gguf";
  for (const label of ["plain", "chat"]) {
    const c = reference.greedy.find((g) => g.label === label);
    const auto = await greedy(file, c.prompt_ids, 16, { engine: "auto" });
    assert.equal(auto.engine, "cpu", auto.engineReason);
    assert.match(auto.engineReason,
      /^the CPU is faster here: 4 layers of this model's shape took \d+\.\d\d ms on the CPU and \d+\.\d\d ms on WebGPU \(google\/swiftshader\)$/);
    assert.equal(auto.shape, "Int8Simd128");
    // By default the CPU engine runs in its worker on every core the browser reports.
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    assert.equal(auto.threads, Math.min(Math.max(cores, 1), 8));
    assert.match(auto.adapter, /^CPU \(int8 WebAssembly SIMD, \d+ threads? in a worker\)$/);
    assert.deepEqual(auto.tokens, c.transformers.slice(0, 16), `${label} on the CPU engine`);
    console.log(`# SmolLM2 ${label} on the page's CPU engine: prefill ${(c.prompt_ids.length / auto.prefillMs * 1000).toFixed(2)} tok/s, ` +
      `decode ${(15 / auto.decodeMs * 1000).toFixed(2)} tok/s (${auto.engineReason})`);
  }
  const plain = reference.greedy.find((g) => g.label === "plain");
  const forced = await greedy(file, plain.prompt_ids, 4, { engine: "gpu" });
  assert.equal(forced.engine, "gpu");
  assert.match(forced.engineReason, /^WebGPU \(google\/swiftshader\) chosen in the Models panel$/);
  assert.deepEqual(forced.tokens, plain.transformers.slice(0, 4));
  // One worker thread, two, and the page's own thread: the same tokens.
  for (const threads of [1, 2, 0]) {
    const cpu = await greedy(file, plain.prompt_ids, 4, { engine: "cpu", threads });
    assert.equal(cpu.engine, "cpu");
    assert.equal(cpu.threads, threads === 0 ? 1 : threads);
    assert.equal(cpu.adapter, threads === 0
      ? "CPU (int8 WebAssembly SIMD, on the page's thread)"
      : `CPU (int8 WebAssembly SIMD, ${threads} thread${threads === 1 ? "" : "s"} in a worker)`);
    assert.deepEqual(cpu.tokens, plain.transformers.slice(0, 4), `threads: ${threads}`);
  }
  const badThreads = await page.evaluate(([f]) =>
    globalThis.airlockEngine.greedy(f, [1], 1, { engine: "cpu", threads: 1.5 }).then(() => "ran", (e) => e.message), [file]);
  assert.equal(badThreads, "options.threads is a whole number from 0 to 256");
  const refused = await page.evaluate(([f]) =>
    globalThis.airlockEngine.greedy(f, [1], 1, { engine: "tpu" }).then(() => "ran", (e) => e.message), [file]);
  assert.match(refused, /engine "tpu" is not one of "auto", "gpu", "cpu"/);
});

for (const [family, file, caseName] of [
  ["llama", "tiny-llama-q8_0.gguf", "gguf-q8_0"],
  ["qwen2", "tiny-qwen2-q6_k.gguf", "gguf-q6_k"],
  ["qwen3", "tiny-qwen3-q4_k.gguf", "gguf-q4_k"],
]) {
  test(`tiny ${family} on the CPU engine (worker and page) gives the native int8 engine's greedy tokens`, { timeout: 300_000 }, async () => {
    // Random-weight models have near-ties that int8 activations flip, so the bar here is the
    // native int8 engine (pinned by inference/tests/reference_models.rs, which ties it to
    // transformers); SmolLM2 above meets the transformers bar itself.
    const reference = JSON.parse(readFileSync(join(FIXTURES, `models/${family}/reference.json`), "utf8"));
    const pinned = JSON.parse(readFileSync(join(FIXTURES, "models/int8_greedy.json"), "utf8"));
    for (const threads of [2, 0]) {
      const result = await greedy(file, reference.prompt_ids, 32, { engine: "cpu", threads });
      assert.equal(result.engine, "cpu");
      assert.equal(result.kvCache, "F32");
      assert.deepEqual(result.tokens, pinned[family], `${caseName}, threads: ${threads}`);
    }
    // The worker keeps the KV cache between calls: a next turn reuses it and continues as cold.
    const options = { engine: "cpu", threads: 2 };
    const first = await generate(file, reference.prompt_ids, { ...options, maxTokens: 12 });
    assert.deepEqual(first.tokens, pinned[family].slice(0, 12));
    await reusesLikeACold(file, reference.prompt_ids, first.tokens, options);
  });
}

/** Runs airlockEngine.generate in the page; `pieces` collects what onText streamed. */
function generate(name, prompt, options = {}, { abortAfterPieces } = {}) {
  return page.evaluate(async ([n, p, o, abortAfter]) => {
    const pieces = [];
    const controller = new AbortController();
    // The loop's rules are checked against the f32 reference's tokens: WebGPU unless asked.
    const result = await globalThis.airlockEngine.generate(n, p, {
      engine: "gpu",
      ...o,
      signal: controller.signal,
      onText: (piece) => {
        pieces.push(piece);
        if (abortAfter !== undefined && pieces.length >= abortAfter) controller.abort();
      },
    });
    return { ...result, pieces };
  }, [name, prompt, options, abortAfterPieces]);
}

/** Checks a continuation on `file` (already run on `prompt`, writing `tokens`) reuses the KV
 *  cache and gives the cold run's tokens. */
async function reusesLikeACold(file, prompt, tokens, options) {
  const next = [...prompt, ...tokens.slice(0, 6)];
  const continued = await generate(file, next, { ...options, maxTokens: 6 });
  assert.equal(continued.reusedTokens, next.length - 1, "only the last token of the next turn ran");
  assert.deepEqual(continued.tokens, tokens.slice(6, 12), "the cache gives what a cold run gives");
  const edited = [...prompt.slice(0, 2), ...prompt.slice(2).map((t) => (t + 1) % 200 + 3)];
  const changed = await generate(file, edited, { ...options, maxTokens: 4 });
  assert.equal(changed.reusedTokens, 2, "a changed prompt reuses only the shared start");
  await page.evaluate((f) => globalThis.airlockEngine.unload(f), file);
  const cold = await generate(file, edited, { ...options, maxTokens: 4 });
  assert.equal(cold.reusedTokens, 0);
  assert.deepEqual(changed.tokens, cold.tokens, "after a divergence the cache gives the cold tokens");
}

test("generate streams the greedy tokens, keeps the model loaded, and stops where asked", { timeout: 300_000 }, async () => {
  const reference = JSON.parse(readFileSync(join(FIXTURES, "models/llama/reference.json"), "utf8"));
  const expected = reference.cases["gguf-q8_0"].greedy;
  const file = "tiny-llama-q8_0.gguf";
  const first = await generate(file, reference.prompt_ids, { maxTokens: 12 });
  assert.deepEqual(first.tokens, expected.slice(0, 12), "temperature 0 is greedy");
  assert.equal(first.stopReason, "max_tokens");
  assert.equal(first.pieces.join(""), first.text, "the streamed pieces are the text");
  assert.ok(first.pieces.length >= 2, `streamed in pieces: ${JSON.stringify(first.pieces)}`);
  assert.equal(first.cached, false);
  assert.equal(first.reusedTokens, 0, "a fresh model runs the whole prompt");
  const again = await generate(file, reference.prompt_ids, { maxTokens: 12 });
  assert.equal(again.cached, true, "the second call reuses the loaded model");
  assert.deepEqual(again.tokens, first.tokens, "the same prompt gives the same tokens");
  assert.equal(again.reusedTokens, reference.prompt_ids.length - 1, "all but the last prompt token came from the KV cache");
  // The next turn: the prompt plus six of the tokens just written runs only what is new, and
  // continues exactly as the cold run did.
  await reusesLikeACold(file, reference.prompt_ids, first.tokens, { engine: "gpu" });

  // A stop string from the middle of the text: cut before it, never streamed.
  const text = first.text;
  const stop = [...text].slice(4, 6).join("");
  const cut = text.indexOf(stop);
  assert.ok(cut > 0 && stop.length > 0, `a usable stop string in ${JSON.stringify(text)}`);
  const stopped = await generate(file, reference.prompt_ids, { maxTokens: 12, stop: [stop] });
  assert.equal(stopped.stopReason, "stop_string");
  assert.equal(stopped.text, text.slice(0, cut));
  assert.ok(!stopped.pieces.join("").includes(stop), "the stop string is never streamed");

  // Cancellation through an AbortSignal.
  const aborted = await generate(file, reference.prompt_ids, { maxTokens: 12 }, { abortAfterPieces: 1 });
  assert.equal(aborted.stopReason, "cancelled");
  assert.ok(aborted.tokens.length < 12, `stopped early after ${aborted.tokens.length} tokens`);
});

test("generate samples reproducibly from a seed and refuses bad options clearly", { timeout: 300_000 }, async () => {
  const reference = JSON.parse(readFileSync(join(FIXTURES, "models/qwen3/reference.json"), "utf8"));
  const file = "tiny-qwen3-q4_k.gguf";
  const settings = { maxTokens: 16, temperature: 0.9, topK: 40, topP: 0.95, repeatPenalty: 1.1 };
  const a = await generate(file, reference.prompt_ids, { ...settings, seed: 7 });
  const b = await generate(file, reference.prompt_ids, { ...settings, seed: 7 });
  const c = await generate(file, reference.prompt_ids, { ...settings, seed: 8 });
  assert.equal(a.tokens.length, 16);
  assert.deepEqual(b.tokens, a.tokens, "the same seed gives the same tokens");
  assert.notDeepEqual(c.tokens, a.tokens, "another seed gives other tokens");
  assert.notDeepEqual(a.tokens, reference.cases["gguf-q4_k"].greedy.slice(0, 16), "sampling is not greedy");

  const refusal = (options) => page.evaluate(([f, p, o]) =>
    globalThis.airlockEngine.generate(f, p, o).then(() => "ran", (e) => e.message), [file, reference.prompt_ids, options]);
  assert.match(await refusal({ temperature: -1 }), /temperature/);
  assert.match(await refusal({ topP: 0 }), /top-p/);
  assert.match(await refusal({ maxTokens: 0 }), /maxTokens/);
  assert.match(await refusal({ maxTokens: 2.5 }), /maxTokens/);
  assert.match(await refusal({ stop: "not-an-array" }), /stop/);
  assert.match(await refusal({ seed: -3 }), /seed/);
  assert.match(await refusal({ onText: 5 }), /onText/);
  assert.match(await page.evaluate(() => globalThis.airlockEngine.generate("absent.gguf", [1], {}).then(() => "ran", (e) => e.message)), /HTTP 404/);

  // One generation at a time per model; the model stays usable afterwards.
  const both = await page.evaluate(([f, p]) => Promise.allSettled([
    globalThis.airlockEngine.generate(f, p, { maxTokens: 4 }),
    globalThis.airlockEngine.generate(f, p, { maxTokens: 4 }),
  ]).then((r) => r.map((x) => x.status === "fulfilled" ? "ok" : x.reason.message)), [file, reference.prompt_ids]);
  assert.equal(both.filter((r) => r === "ok").length, 1, JSON.stringify(both));
  assert.ok(both.some((r) => /busy/.test(r)), JSON.stringify(both));
  assert.equal(await page.evaluate((f) => globalThis.airlockEngine.unload(f), file), true);
  const reloaded = await generate(file, reference.prompt_ids, { maxTokens: 4 });
  assert.equal(reloaded.cached, false, "unload frees the model; the next call loads it again");
  assert.deepEqual(reloaded.tokens, reference.cases["gguf-q4_k"].greedy.slice(0, 4));
});

test("model downloads are audited and only listed model names are served", async () => {
  const refused = await page.evaluate(() => globalThis.airlockEngine.greedy("../etc/passwd", [1], 1, {}).then(() => "ran", (e) => e.message));
  assert.match(refused, /refused model/);
  const missing = await page.evaluate(() => globalThis.airlockEngine.greedy("absent.gguf", [1], 1, {}).then(() => "ran", (e) => e.message));
  assert.match(missing, /HTTP 404/);
  const log = readdirSync(appliance.auditDir)
    .filter((f) => f.endsWith(".jsonl") || f.startsWith("audit"))
    .map((f) => { try { return readFileSync(join(appliance.auditDir, f), "utf8"); } catch { return ""; } })
    .join("\n");
  const loads = log.split("\n").filter((l) => l.includes('"model.load"'));
  assert.ok(loads.some((l) => l.includes("smollm2-135m-q4_1.gguf") && l.includes('"ok')), loads.join("\n"));
  assert.ok(loads.some((l) => l.includes("absent.gguf")), "a refused load is recorded too");
});
