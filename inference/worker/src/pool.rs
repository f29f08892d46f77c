//! rayon's threads as Web Workers: the pool hands each thread's start to a worker the
//! script starts (`globalThis.airlockSpawnPoolThread(index)`), which instantiates this module
//! on the same shared memory and calls [`run_pool_thread`] with the index.

use std::sync::Mutex;

use rayon::ThreadBuilder;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// Starts a Web Worker that will call [`run_pool_thread`] with `index`.
    #[wasm_bindgen(js_namespace = globalThis, js_name = airlockSpawnPoolThread)]
    fn spawn_pool_thread(index: usize);
}

/// Thread starts waiting for their worker, by index.
static WAITING: Mutex<Vec<Option<ThreadBuilder>>> = Mutex::new(Vec::new());

/// A thread pool whose threads are Web Workers; the script waits until each has started
/// before blocking on it (a worker cannot start while the thread that made it is blocked).
#[wasm_bindgen]
pub struct Pool(rayon::ThreadPool);

#[wasm_bindgen]
impl Pool {
    /// Asks for `threads` workers (at least one).
    #[wasm_bindgen(constructor)]
    pub fn new(threads: usize) -> Result<Pool, JsError> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .spawn_handler(|thread| {
                let index = {
                    let mut waiting = WAITING
                        .lock()
                        .map_err(|_| std::io::Error::other("the pool's list is poisoned"))?;
                    waiting.push(Some(thread));
                    waiting.len() - 1
                };
                spawn_pool_thread(index);
                Ok(())
            })
            .build()
            .map(Pool)
            .map_err(|e| JsError::new(&format!("the engine's threads did not start: {e}")))
    }
}

impl Pool {
    /// The rayon pool.
    pub(crate) fn into_inner(self) -> rayon::ThreadPool {
        self.0
    }
}

/// A pool worker's life: runs thread `index`'s share of the pool until the pool ends.
#[wasm_bindgen(js_name = runPoolThread)]
pub fn run_pool_thread(index: usize) {
    let thread = WAITING
        .lock()
        .ok()
        .and_then(|mut waiting| waiting.get_mut(index).and_then(Option::take));
    if let Some(thread) = thread {
        thread.run();
    }
}
