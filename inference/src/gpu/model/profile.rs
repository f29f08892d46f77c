//! Bench-only: how long each kind of kernel of a decode step takes (`benches/engine.rs`).

use super::super::GpuError;
use super::GpuModel;
use super::record::{Op, words};

impl GpuModel {
    /// Seconds one decode step at `position` spends in each kind of kernel (best of three runs
    /// of `repeat` steps' worth of that kind alone), for comparing them with other kernels.
    pub fn kernel_seconds(
        &self,
        position: usize,
        repeat: u32,
    ) -> Result<Vec<(&'static str, f64)>, GpuError> {
        if position >= self.capacity {
            return Err(GpuError(format!("position {position} is past the cache")));
        }
        let queue = &self.ctx.queue;
        queue.write_buffer(&self.act.step, 0, &words(&[position as u32, 1]));
        let mut kinds: Vec<&'static str> = Vec::new();
        for op in self.ops.iter().chain(&self.final_ops) {
            if !kinds.contains(&op.kind) {
                kinds.push(op.kind);
            }
        }
        let mut times = Vec::new();
        for kind in kinds {
            let ops: Vec<&Op> = self
                .ops
                .iter()
                .chain(&self.final_ops)
                .filter(|op| op.kind == kind)
                .collect();
            let mut best = f64::MAX;
            for run in 0..4 {
                let started = std::time::Instant::now();
                let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    for _ in 0..repeat {
                        for op in &ops {
                            pass.set_pipeline(&op.pipeline);
                            pass.set_bind_group(0, &op.bind, &[]);
                            pass.dispatch_workgroups(op.groups.0, op.groups.1, 1);
                        }
                    }
                }
                queue.submit([encoder.finish()]);
                self.ctx
                    .device
                    .poll(wgpu::PollType::wait_indefinitely())
                    .map_err(|e| GpuError(format!("GPU wait failed: {e}")))?;
                if run > 0 {
                    best = best.min(started.elapsed().as_secs_f64());
                }
            }
            times.push((kind, best / f64::from(repeat.max(1))));
        }
        Ok(times)
    }
}
