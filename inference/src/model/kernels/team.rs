//! The threads of one forward pass, kept busy between products (llama.cpp's scheme): the
//! pass's own thread posts each parallel step as numbered chunks, the helpers spin until one
//! is posted and claim chunks from a shared counter, and nobody sleeps or is woken until the
//! pass ends. A work-stealing hand-off per product (rayon's `par_iter`) costs a wake-up each
//! time: on two cores that was a third of decode natively, and more in the browser, where a
//! wake-up goes through `Atomics.notify`.
//!
//! [`pass`] runs a pass with the calling pool's threads; [`split`] and [`split_parts`] are
//! how the kernels inside it spread their rows (everything runs on the calling thread outside
//! a pass).
// Reviewed unsafe site (`cargo xtask lint` counts them): a job is shared with the helpers as
// a pointer to the posting thread's stack, which stays valid because that thread waits until
// every chunk it posted has finished; and each chunk, claimed exactly once, hands out its own
// part of an output.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// One chunk's work, by chunk index.
type Job<'a> = dyn Fn(usize) + Sync + 'a;

/// What the pass's thread and its helpers share.
struct Team {
    /// `epoch << 32 | next chunk to claim`: a helper that read an older epoch's job cannot
    /// claim a chunk of a newer one (its compare-and-swap fails).
    state: AtomicU64,
    /// Chunks in the current job.
    total: AtomicUsize,
    /// Chunks of the current job finished.
    done: AtomicUsize,
    /// The current job: a `*const &Job` on the posting thread's stack, valid until `done`
    /// reaches `total`.
    job: AtomicPtr<()>,
    /// Set when the pass ends: the helpers return.
    stop: AtomicBool,
    /// Threads that work on each job, the pass's own included.
    threads: usize,
}

thread_local! {
    /// The team whose pass runs on this thread, if any.
    static CURRENT: Cell<*const Team> = const { Cell::new(std::ptr::null()) };
}

/// Runs `body` with every thread of the current rayon pool working on its [`split`]s, or on
/// the calling thread alone where there is no pool (the page's own thread).
pub fn pass<T: Send>(body: impl FnOnce() -> T + Send) -> T {
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    {
        let team = Team::new(rayon::current_num_threads());
        let team = &team;
        rayon::scope(|scope| {
            for _ in 1..team.threads {
                scope.spawn(move |_| team.help());
            }
            let result = team.lead(body);
            team.stop.store(true, Ordering::Release);
            result
        })
    }
    #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
    {
        Team::new(1).lead(body)
    }
}

/// Calls `each(chunk)` for every chunk in `0..chunks`, spread over the current pass's
/// threads (in this thread alone outside a pass); returns when all have run.
pub fn split(chunks: usize, each: impl Fn(usize) + Sync) {
    let team = CURRENT.with(Cell::get);
    // SAFETY: `CURRENT` is set only while `Team::lead` runs on this thread, and the team
    // outlives that call.
    match unsafe { team.as_ref() } {
        Some(team) if team.threads > 1 && chunks > 1 => team.run(chunks, &each),
        _ => (0..chunks).for_each(each),
    }
}

/// Calls `each(i, part)` for every part of `parts` (an output cut into pieces), spread as
/// [`split`] spreads chunks.
pub fn split_parts<T: Send>(parts: &mut [&mut [T]], each: impl Fn(usize, &mut [T]) + Sync) {
    let base = Parts(parts.as_mut_ptr());
    let len = parts.len();
    split(len, |i| {
        assert!(i < len);
        // SAFETY: `i` is in bounds, and `split` runs each index once, so no two threads hold
        // the same part; `parts` is borrowed mutably until `split` returns.
        let part: &mut &mut [T] = unsafe { &mut *base.at(i) };
        each(i, part)
    });
}

/// The parts' address, shared with the team for [`split_parts`].
struct Parts<T>(*mut T);

impl<T> Parts<T> {
    fn at(&self, i: usize) -> *mut T {
        self.0.wrapping_add(i)
    }
}

// SAFETY: the threads reach disjoint elements only (see `split_parts`), which they may hold
// on any thread when the elements are `Send`.
unsafe impl<T: Send> Sync for Parts<T> {}

impl Team {
    fn new(threads: usize) -> Self {
        Self {
            state: AtomicU64::new(0),
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            stop: AtomicBool::new(false),
            threads: threads.max(1),
        }
    }

    /// Runs `body` as this team's pass thread.
    fn lead<T>(&self, body: impl FnOnce() -> T) -> T {
        /// Clears `CURRENT` however `body` ends.
        struct Reset(*const Team);
        impl Drop for Reset {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let _reset = Reset(CURRENT.with(|c| c.replace(self)));
        body()
    }

    /// Posts `chunks` chunks of `each`, works on them too, and waits until all are done.
    fn run(&self, chunks: usize, each: &Job<'_>) {
        let job: *const &Job<'_> = &each;
        self.job.store(job as *mut (), Ordering::Relaxed);
        self.total.store(chunks, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        let epoch = (self.state.load(Ordering::Relaxed) >> 32) + 1;
        self.state.store(epoch << 32, Ordering::Release);
        while let Some(chunk) = self.claim() {
            each(chunk);
            self.done.fetch_add(1, Ordering::Release);
        }
        while self.done.load(Ordering::Acquire) < chunks {
            std::hint::spin_loop();
        }
    }

    /// Takes the next chunk of the job posted last, if one is left: `(chunk, job)`.
    fn claim_with_job(&self) -> Option<(usize, *const ())> {
        loop {
            let state = self.state.load(Ordering::Acquire);
            let next = (state & u64::from(u32::MAX)) as usize;
            if state >> 32 == 0 || next >= self.total.load(Ordering::Relaxed) {
                return None;
            }
            let job = self.job.load(Ordering::Relaxed);
            if self
                .state
                .compare_exchange_weak(state, state + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Some((next, job));
            }
        }
    }

    fn claim(&self) -> Option<usize> {
        self.claim_with_job().map(|(chunk, _)| chunk)
    }

    /// A helper's life: claims and runs chunks until the pass ends, spinning in between.
    fn help(&self) {
        let mut idle = 0u32;
        while !self.stop.load(Ordering::Acquire) {
            let Some((chunk, job)) = self.claim_with_job() else {
                idle = idle.saturating_add(1);
                // Natively, give the core away now and then in a long wait (a busy machine).
                #[cfg(not(target_arch = "wasm32"))]
                if idle.is_multiple_of(1 << 14) {
                    std::thread::yield_now();
                }
                std::hint::spin_loop();
                continue;
            };
            idle = 0;
            // SAFETY: the claim succeeded in the job's epoch, so its chunks are not all done
            // and the posting thread is still waiting in `run`, keeping `each` alive.
            let each = unsafe { *(job as *const &Job<'_>) };
            each(chunk);
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_chunk_runs_once_on_every_thread_count() {
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a pool");
            let counts: Vec<AtomicU32> = (0..257).map(|_| AtomicU32::new(0)).collect();
            pool.install(|| {
                pass(|| {
                    for chunks in [0, 1, 2, 7, 257] {
                        split(chunks, |c| {
                            counts[c].fetch_add(1, Ordering::Relaxed);
                        });
                    }
                })
            });
            // Chunks 0 and 1 ran in the jobs of 1, 2, 7 and 257 chunks; 2..7 in two; the rest in one.
            for (c, count) in counts.iter().enumerate() {
                let expected = match c {
                    0 => 4,
                    1 => 3,
                    2..7 => 2,
                    _ => 1,
                };
                assert_eq!(
                    count.load(Ordering::Relaxed),
                    expected,
                    "chunk {c}, {threads} threads"
                );
            }
        }
    }

    #[test]
    fn parts_are_each_written_once() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool");
        let mut out = vec![0u32; 1000];
        pool.install(|| {
            pass(|| {
                let mut parts: Vec<&mut [u32]> = out.chunks_mut(7).collect();
                split_parts(&mut parts, |i, part| {
                    for (k, slot) in part.iter_mut().enumerate() {
                        *slot += (i * 7 + k) as u32;
                    }
                });
            })
        });
        assert!(out.iter().enumerate().all(|(i, v)| *v == i as u32));
    }

    #[test]
    fn outside_a_pass_everything_runs_here() {
        let ran = AtomicU32::new(0);
        split(5, |_| {
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 5);
    }
}
