//! Kernel-level measurements for `benches/`: the quantized matrix-vector product's effective
//! bandwidth next to a plain copy's on the same adapter (our distance to the memory limit).

use std::time::Instant;

use super::GpuError;
use super::context::GpuContext;
use super::kernels::{Kernels, KvPrecision, MatvecShape};
use super::upload::upload;
use crate::model::matrix::Matrix;

const COPY: &str = include_str!("../../../shaders/copy.wgsl");

fn wait(ctx: &GpuContext) -> Result<(), GpuError> {
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map(|_| ())
        .map_err(|e| GpuError(format!("GPU wait failed: {e}")))
}

fn dispatch_groups(threads: u32) -> (u32, u32) {
    let groups = threads.div_ceil(64);
    if groups <= 65535 {
        (groups, 1)
    } else {
        (65535, groups.div_ceil(65535))
    }
}

/// GB/s of copying `bytes` bytes (read + written), best of `runs` runs of `repeat` copies.
pub fn copy_bandwidth(
    ctx: &GpuContext,
    bytes: u64,
    repeat: u32,
    runs: u32,
) -> Result<f64, GpuError> {
    let device = &ctx.device;
    let make = |label| {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    };
    let (src, dst) = (make("copy src"), make("copy dst"));
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("copy"),
        source: wgpu::ShaderSource::Wgsl(COPY.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("copy"),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("copy"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: src.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: dst.as_entire_binding(),
            },
        ],
    });
    let groups = dispatch_groups((bytes / 16) as u32);
    let mut best = f64::MAX;
    for run in 0..=runs {
        let started = Instant::now();
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            for _ in 0..repeat {
                pass.dispatch_workgroups(groups.0, groups.1, 1);
            }
        }
        ctx.queue.submit([encoder.finish()]);
        wait(ctx)?;
        if run > 0 {
            best = best.min(started.elapsed().as_secs_f64());
        }
    }
    Ok((2 * bytes) as f64 * f64::from(repeat) / best / 1e9)
}

/// GB/s of weight bytes streamed by the matrix-vector kernel for `matrix`, best of `runs` runs of
/// `repeat` products.
pub fn matvec_bandwidth(
    ctx: &GpuContext,
    matrix: &Matrix,
    shape: MatvecShape,
    repeat: u32,
    runs: u32,
) -> Result<f64, GpuError> {
    let device = &ctx.device;
    let gpu = upload(
        &ctx.burn,
        &ctx.queue,
        "bench matrix",
        matrix,
        ctx.max_binding,
    )?;
    let kernels = Kernels::new(
        device,
        &[gpu.format],
        gpu.format,
        shape,
        KvPrecision::F32,
        64,
    );
    let buffer = |label, floats: usize| {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (floats * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    };
    let (x, y) = (buffer("x", matrix.cols), buffer("y", matrix.rows));
    ctx.queue.write_buffer(&x, 0, &vec![0u8; matrix.cols * 4]);
    let pipeline = kernels.matvec(gpu.format);
    let mut binds = Vec::new();
    for shard in &gpu.shards {
        let words = [
            shard.rows as u32,
            gpu.cols as u32,
            gpu.row_bytes as u32,
            shard.first_row as u32,
            0,
            0,
            0,
            0,
        ];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: bytes.len() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        ctx.queue.write_buffer(&params, 0, &bytes);
        let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("matvec"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: shard.buffer.binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: x.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: y.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: params.as_entire_binding(),
                },
            ],
        });
        let rows = shard.rows as u32;
        let groups = match shape {
            MatvecShape::Workgroup => (rows.min(32768), rows.div_ceil(32768)),
            MatvecShape::Thread => (rows.div_ceil(64), 1),
        };
        binds.push((bind, groups));
    }
    let mut best = f64::MAX;
    for run in 0..=runs {
        let started = Instant::now();
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(pipeline);
            for _ in 0..repeat {
                for (bind, groups) in &binds {
                    pass.set_bind_group(0, bind, &[]);
                    pass.dispatch_workgroups(groups.0, groups.1, 1);
                }
            }
        }
        ctx.queue.submit([encoder.finish()]);
        wait(ctx)?;
        if run > 0 {
            best = best.min(started.elapsed().as_secs_f64());
        }
    }
    let weight_bytes = (gpu.rows * gpu.row_bytes) as f64;
    Ok(weight_bytes * f64::from(repeat) / best / 1e9)
}
