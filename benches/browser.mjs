// Bench: the engine inside headless Chromium on SmolLM2-135M Q4_1 (and Qwen2.5-Coder-0.5B
// Q4_K_M when AIRLOCK_QWEN_CODER_GGUF is set) — the CPU engine (int8 WebAssembly SIMD) in its
// worker on 1 and 2 threads and on the page's own thread, at the peers' lengths (64-token
// prompt, 32 generated, median of 3 after a warm-up), with the page's longest stall (long
// task) while the prompt and tokens run,
// the engine the load-time probe picks, and WebGPU (SwiftShader on machines without a GPU)
// for both matrix-vector kernel shapes. Prints one JSON object. Run through `cargo xtask
// bench` (it sets AIRLOCK_BIN, AIRLOCK_CHROMIUM and AIRLOCK_SMOLLM2_GGUF).

import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeWorkspace, startAppliance, launchBrowser } from "../tests/e2e/harness.mjs";

const PROMPT = 16;
const DECODE = 16;

const workspace = makeWorkspace({ "README.md": "# bench\n" });
const models = mkdtempSync(join(tmpdir(), "airlock-bench-models-"));
symlinkSync(process.env.AIRLOCK_SMOLLM2_GGUF, join(models, "smollm2.gguf"));
if (process.env.AIRLOCK_QWEN_CODER_GGUF) symlinkSync(process.env.AIRLOCK_QWEN_CODER_GGUF, join(models, "qwen.gguf"));
const CPU_PROMPT = 64;
const CPU_DECODE = 32;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const appliance = await startAppliance(workspace, ["--models", models]);
const browser = await launchBrowser();
try {
  const page = await browser.context.newPage();
  await page.goto(appliance.url);
  await page.waitForFunction(() => typeof globalThis.airlockEngine?.greedy === "function");
  const prompt = Array.from({ length: PROMPT }, (_, i) => 100 + ((i * 37) % 4000));
  const cpuPrompt = Array.from({ length: CPU_PROMPT }, (_, i) => 100 + ((i * 37) % 4000));
  const cpu = {};
  for (const model of ["smollm2.gguf", ...(process.env.AIRLOCK_QWEN_CODER_GGUF ? ["qwen.gguf"] : [])]) {
    cpu[model] = {};
    for (const [label, threads] of [["worker_1_thread", 1], ["worker_2_threads", 2], ["page_thread", 0]]) {
      const runs = [];
      for (let rep = 0; rep < 4; rep++) {
        const r = await page.evaluate(async ([m, p, n, t]) => {
          // The page's long tasks while the prompt and tokens run (the load's are left out).
          const tasks = [];
          const observer = new PerformanceObserver((list) => tasks.push(...list.getEntries()));
          observer.observe({ type: "longtask" });
          const t0 = performance.now();
          const result = await globalThis.airlockEngine.greedy(m, p, n, { engine: "cpu", threads: t });
          tasks.push(...observer.takeRecords());
          observer.disconnect();
          const generating = t0 + result.loadMs;
          const stall = Math.max(0, ...tasks.filter((e) => e.startTime + e.duration > generating)
            .map((e) => e.startTime + e.duration - Math.max(e.startTime, generating)));
          return { ...result, stall };
        }, [model, cpuPrompt, CPU_DECODE, threads]);
        if (rep > 0) runs.push(r);
      }
      cpu[model][label] = {
        threads: runs[0].threads,
        where: runs[0].adapter,
        prompt_tokens: CPU_PROMPT,
        generated_tokens: CPU_DECODE,
        prefill_tokens_per_s: +median(runs.map((r) => CPU_PROMPT / r.prefillMs * 1000)).toFixed(2),
        decode_tokens_per_s: +median(runs.map((r) => (CPU_DECODE - 1) / r.decodeMs * 1000)).toFixed(2),
        load_ms: Math.round(median(runs.map((r) => r.loadMs))),
        longest_page_stall_while_generating_ms: Math.round(median(runs.map((r) => r.stall))),
      };
    }
  }
  const auto = await page.evaluate(([p]) => globalThis.airlockEngine.greedy("smollm2.gguf", p, 2, { engine: "auto" }), [prompt]);
  const runs = {};
  let adapter = "";
  for (const shape of ["thread", "workgroup"]) {
    const r = await page.evaluate(([p, n, s]) => globalThis.airlockEngine.greedy("smollm2.gguf", p, n, { shape: s, engine: "gpu" }), [prompt, DECODE, shape]);
    adapter = r.adapter;
    runs[shape] = {
      prefill_tokens_per_s: +(PROMPT / r.prefillMs * 1000).toFixed(2),
      decode_tokens_per_s: +((DECODE - 1) / r.decodeMs * 1000).toFixed(2),
      stream_and_upload_ms: Math.round(r.loadMs),
      peak_buffered_mib: +(r.peakBufferedBytes / 1048576).toFixed(1),
    };
  }
  const version = browser.context.browser()?.version() ?? "chromium";
  console.log(JSON.stringify({
    bench: "engine-browser", model: "SmolLM2-135M-Instruct.Q4_1.gguf", browser: version,
    cpu_engine: cpu,
    probe: { engine: auto.engine, reason: auto.engineReason },
    webgpu: { adapter, prompt_tokens: PROMPT, generated_tokens: DECODE, shapes: runs },
  }, null, 2));
} finally {
  await browser.close();
  await appliance.stop();
  rmSync(workspace, { recursive: true, force: true });
  rmSync(models, { recursive: true, force: true });
}
