// The browser's CPU engine worker (inference/worker): `cargo xtask web` fills in the module's
// names and publishes this file under a fingerprinted name. The page starts it as the
// *engine*: it instantiates the module (wasm threads: its memory is shared), starts the
// pool's threads as further workers of this same script on that memory, waits until each
// has started (a worker cannot start while its parent blocks), then loads the model and
// answers the page's requests one at a time. Replies are `{ header: JSON, logits? }`; the
// header's `kind` is what app/src/engine/worker.rs reads.
import init, { Engine, Pool, runPoolThread, engineMemory, engineModule, kernelSelfTest } from "./{{glue}}";

const WASM = new URL("./{{wasm}}", import.meta.url);

let instantiated = null;
let ready = null;
let engine = null;

// The engine's own instance (its memory is created shared by the module's glue).
const instantiate = () => (instantiated ??= init({ module_or_path: WASM }));

const reply = (header, transfer = [], logits = undefined) =>
  postMessage({ header: JSON.stringify(header), logits }, transfer);

const messageOf = (error) => (error instanceof Error ? error.message : String(error));

// Instantiates the module and starts `threads` pool threads; resolves once all have started.
async function start(threads) {
  await instantiate();
  const started = [];
  globalThis.airlockSpawnPoolThread = (index) => {
    const thread = new Worker(import.meta.url, { type: "module", name: `airlock-engine-thread-${index}` });
    started.push(
      new Promise((resolve, reject) => {
        thread.onmessage = (event) =>
          event.data === "started" ? resolve() : reject(new Error(`engine thread ${index} failed to start: ${event.data.failed}`));
        thread.onerror = (event) => reject(new Error(`engine thread ${index} failed to start: ${event.message ?? "unknown error"}`));
      }),
    );
    thread.postMessage({ role: "thread", module: engineModule(), memory: engineMemory(), index });
  };
  const pool = new Pool(threads);
  await Promise.all(started);
  return pool;
}

async function onEngineMessage(message) {
  switch (message.op) {
    case "start": {
      ready = await start(message.threads);
      return reply({ kind: "started", threads: message.threads });
    }
    case "load": {
      if (!ready) throw new Error("the engine was asked to load before it started");
      engine = new Engine(ready, new Uint8Array(message.bytes), message.context);
      ready = null;
      return reply({ kind: "loaded", threads: engine.threads(), capacity: engine.capacity() });
    }
    case "forward": {
      if (!engine) throw new Error("no model is loaded in the engine worker");
      const tokens = new Uint32Array(message.tokens);
      if (message.want === "none") {
        engine.prefill(tokens, message.start);
        return reply({ kind: "done" });
      }
      if (message.want === "argmax") {
        return reply({ kind: "token", token: engine.argmax(tokens, message.start) });
      }
      const logits = engine.logits(tokens, message.start);
      return reply({ kind: "logits" }, [logits.buffer], logits);
    }
    case "selfTest": {
      await instantiate();
      return reply({ kind: "selfTest", text: kernelSelfTest() });
    }
    default:
      throw new Error(`the engine worker does not know ${JSON.stringify(message.op)}`);
  }
}

// Requests are handled strictly in order, each after the last has replied.
let queue = Promise.resolve();

self.onmessage = (event) => {
  const message = event.data;
  if (message.role === "thread") {
    // A pool thread: same module, same memory; runs until the pool ends.
    self.onmessage = null;
    init({ module_or_path: message.module, memory: message.memory }).then(
      () => {
        postMessage("started");
        runPoolThread(message.index);
        close();
      },
      (error) => postMessage({ failed: messageOf(error) }),
    );
    return;
  }
  queue = queue.then(() =>
    onEngineMessage(message).catch((error) => reply({ kind: "failed", message: messageOf(error) })),
  );
};
