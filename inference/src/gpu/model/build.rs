//! Loading a model onto the device: choose the kernels, allocate every buffer, place the
//! weights, and record the decode and prefill op lists once.

use std::collections::{BTreeSet, HashMap};

use super::super::GpuError;
use super::super::burn::SharedTensor;
use super::super::context::GpuContext;
use super::super::kernels::{Kernels, KvPrecision, MatvecShape, PREFILL_LANES};
use super::super::upload::layout_of;
use super::buffers::{Activations, Lanes};
use super::place::{Placer, Target, tensor_of};
use super::record::{Bind, Builder, LayerBuffers, Shared, bind_group, uniform};
use super::{GpuModel, GpuOptions};
use crate::config::ModelConfig;
use crate::model::matrix::Storage;
use crate::model::names::{self, Block};
use crate::model::rope;
use crate::model::weights::{RopeStyle, Weights};

impl GpuModel {
    /// As `new`, on an already opened device.
    pub fn with_context(
        ctx: GpuContext,
        weights: &Weights,
        context: usize,
        options: GpuOptions,
    ) -> Result<Self, GpuError> {
        let config = weights.config.clone();
        let c = &config;
        if c.head_dim > 512 {
            return Err(GpuError(format!("head_dim {} is above 512", c.head_dim)));
        }
        let capacity = context.min(c.context).max(1);
        let device = &ctx.device;
        let max_shard = options
            .max_shard_bytes
            .unwrap_or(ctx.max_binding)
            .min(ctx.max_binding);
        let shape = options.matvec_shape.unwrap_or_else(|| default_shape(&ctx));
        let mut formats = vec![
            layout_of(&weights.embedding).0,
            layout_of(weights.output_matrix()).0,
        ];
        for layer in &weights.layers {
            for m in [
                &layer.q,
                &layer.k,
                &layer.v,
                &layer.o,
                &layer.gate,
                &layer.up,
                &layer.down,
            ] {
                formats.push(layout_of(m).0);
            }
        }
        let kv = match options.kv_cache {
            Some(KvPrecision::F16) if !ctx.has_f16 => {
                return Err(GpuError(format!(
                    "an f16 KV cache needs shader-f16, which {} lacks",
                    ctx.adapter
                )));
            }
            Some(precision) => precision,
            None if ctx.has_f16 => KvPrecision::F16,
            None => KvPrecision::F32,
        };
        cache_fits(c, capacity, kv, ctx.max_binding)?;
        let embedding_format = layout_of(&weights.embedding).0;
        let kernels = Kernels::new(device, &formats, embedding_format, shape, kv, c.head_dim);
        let (q_dim, kv_dim) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
        let act = Activations {
            one: Lanes::new(&ctx.burn, c, capacity, 1)?,
            batch: Lanes::new(&ctx.burn, c, capacity, PREFILL_LANES)?,
            tokens: SharedTensor::bytes(&ctx.burn, PREFILL_LANES * 4)?,
            logits: SharedTensor::floats(&ctx.burn, c.vocab)?,
            step: uniform(device, &[0, 1]),
            embed_params: uniform(device, &[0, 0, 0]),
        };
        let inverse = rope::inverse_frequencies(c, weights.rope_freq_factors.as_deref());
        let table = tensor_of(&ctx, &rope::table(&inverse, capacity))?;
        let pending = matches!(weights.embedding.storage, Storage::Pending { .. });
        let mut place = Placer {
            ctx: &ctx,
            max_shard,
            matrices: Vec::new(),
            targets: HashMap::from([(names::ROPE_FREQS.to_owned(), Target::RopeFreqs)]),
            missing: BTreeSet::new(),
        };
        let interleaved = u32::from(weights.rope_style == RopeStyle::Interleaved);
        let qkv_stride = (q_dim + 2 * kv_dim) as u32;
        let attention_params = uniform(
            device,
            &[
                c.head_dim as u32,
                c.heads as u32,
                c.kv_heads as u32,
                capacity as u32,
                (1.0 / (c.head_dim as f32).sqrt()).to_bits(),
                qkv_stride,
            ],
        );
        let empty = SharedTensor::floats(&ctx.burn, 1)?;
        let mut b = Builder {
            device,
            kernels: &kernels,
            lanes: 1,
            ops: Vec::new(),
        };
        let mut prefill = Builder {
            device,
            kernels: &kernels,
            lanes: PREFILL_LANES,
            ops: Vec::new(),
        };
        let mut cache = Vec::with_capacity(weights.layers.len());
        for (i, layer) in weights.layers.iter().enumerate() {
            let qkv = place.matrices(
                "qkv",
                &[
                    (Block::Q.of(i), &layer.q),
                    (Block::K.of(i), &layer.k),
                    (Block::V.of(i), &layer.v),
                ],
            )?;
            let gate_up = place.matrices(
                "gate_up",
                &[
                    (Block::Gate.of(i), &layer.gate),
                    (Block::Up.of(i), &layer.up),
                ],
            )?;
            let wo = place.matrices("o", &[(Block::Output.of(i), &layer.o)])?[0].0;
            let wd = place.matrices("down", &[(Block::Down.of(i), &layer.down)])?[0].0;
            let cache_bytes = capacity * kv_dim * kv.bytes();
            let keys = SharedTensor::bytes(&ctx.burn, cache_bytes)?;
            let values = SharedTensor::bytes(&ctx.burn, cache_bytes)?;
            let attn_norm = place.floats(&[(Block::AttnNorm.of(i), &layer.attn_norm)], pending)?;
            let ffn_norm = place.floats(&[(Block::FfnNorm.of(i), &layer.ffn_norm)], pending)?;
            let bias = layer
                .qkv_bias
                .as_ref()
                .map(|[bq, bk, bv]| {
                    place.floats(
                        &[
                            (Block::QBias.of(i), bq.as_slice()),
                            (Block::KBias.of(i), bk.as_slice()),
                            (Block::VBias.of(i), bv.as_slice()),
                        ],
                        pending,
                    )
                })
                .transpose()?;
            let norms = layer
                .qk_norm
                .as_ref()
                .map(|[nq, nk]| {
                    place.floats(
                        &[
                            (Block::QNorm.of(i), nq.as_slice()),
                            (Block::KNorm.of(i), nk.as_slice()),
                        ],
                        pending,
                    )
                })
                .transpose()?;
            let rope_params = uniform(
                device,
                &[
                    c.head_dim as u32,
                    c.heads as u32,
                    c.kv_heads as u32,
                    interleaved,
                    u32::from(bias.is_some()),
                    u32::from(norms.is_some()),
                    c.rms_eps.to_bits(),
                    qkv_stride,
                ],
            );
            let layer = LayerBuffers {
                qkv: &qkv,
                gate_up: &gate_up,
                wo,
                wd,
                keys: &keys,
                values: &values,
                attn_norm: &attn_norm,
                ffn_norm: &ffn_norm,
                bias: bias.as_ref(),
                norms: norms.as_ref(),
                rope_params: &rope_params,
            };
            let shared = Shared {
                matrices: &place.matrices,
                table: &table,
                empty: &empty,
                attention_params: &attention_params,
                step: &act.step,
            };
            b.layer(&act.one, &layer, &shared, c);
            prefill.layer(&act.batch, &layer, &shared, c);
            cache.push((keys, values));
        }
        let output_norm = place.floats(
            &[(names::OUTPUT_NORM.to_owned(), &weights.output_norm)],
            pending,
        )?;
        let ops = std::mem::take(&mut b.ops);
        b.rms_norm(
            &act.one.x,
            &output_norm,
            &act.one.normed,
            c.hidden,
            c.rms_eps,
        );
        let embedding_index = place.matrices(
            "token_embd",
            &[(names::TOKEN_EMBD.to_owned(), &weights.embedding)],
        )?[0]
            .0;
        let output_index = match &weights.output {
            Some(output) => place.matrices("output", &[(names::OUTPUT.to_owned(), output)])?[0].0,
            None => embedding_index,
        };
        b.matvec(
            &place.matrices[output_index],
            &act.one.normed,
            &act.logits,
            0,
            false,
            c.vocab,
        );
        let embedding = &place.matrices[embedding_index];
        debug_assert_eq!(embedding.format, embedding_format);
        let embed_pipeline = kernels.embed.clone();
        let layout = embed_pipeline.get_bind_group_layout(0);
        let embed_binds = embedding
            .shards
            .iter()
            .map(|shard| {
                let entries: [(u32, &dyn Bind); 3] =
                    [(0, &shard.buffer), (2, &act.one.x), (3, &act.embed_params)];
                bind_group(device, &layout, "embed", &entries)
            })
            .collect();
        let embed_lanes_pipeline = kernels.embed_lanes.clone();
        let layout = embed_lanes_pipeline.get_bind_group_layout(0);
        let embed_lanes_binds = embedding
            .shards
            .iter()
            .map(|shard| {
                let params = uniform(
                    device,
                    &[
                        shard.first_row as u32,
                        embedding.cols as u32,
                        embedding.row_bytes as u32,
                        shard.rows as u32,
                    ],
                );
                let entries: [(u32, &dyn Bind); 4] = [
                    (0, &shard.buffer),
                    (2, &act.batch.x),
                    (3, &params),
                    (4, &act.tokens),
                ];
                bind_group(device, &layout, "embed lanes", &entries)
            })
            .collect();
        let final_ops = b.ops;
        let prefill_ops = prefill.ops;
        let (matrices, targets, missing) = (place.matrices, place.targets, place.missing);
        Ok(Self {
            ctx,
            config,
            capacity,
            shape,
            kv,
            matrices,
            embedding: embedding_index,
            embed_binds,
            embed_pipeline,
            embed_lanes_binds,
            embed_lanes_pipeline,
            ops,
            prefill_ops,
            final_ops,
            act,
            rope_table: table,
            cache,
            _empty: empty,
            targets,
            missing,
        })
    }
}

/// Refuses a context whose per-layer KV cache or prefill attention scores would not fit in one
/// buffer binding of the device (`max_binding` bytes), with the context that would.
fn cache_fits(
    c: &ModelConfig,
    capacity: usize,
    kv: KvPrecision,
    max_binding: u64,
) -> Result<(), GpuError> {
    let per_position = [
        ("KV cache", (c.kv_heads * c.head_dim * kv.bytes()) as u64),
        ("attention scores", (PREFILL_LANES * c.heads * 4) as u64),
    ];
    for (what, bytes) in per_position {
        let needed = bytes.saturating_mul(capacity as u64);
        if needed > max_binding {
            return Err(GpuError(format!(
                "a context of {capacity} positions needs {} MiB of {what} per layer, above this \
                 GPU's largest buffer binding ({} MiB); use a context of at most {}",
                needed.div_ceil(1 << 20),
                max_binding >> 20,
                max_binding / bytes.max(1)
            )));
        }
    }
    Ok(())
}

/// Thread-per-row on CPU-emulated adapters, workgroup-per-row elsewhere.
fn default_shape(ctx: &GpuContext) -> MatvecShape {
    let name = ctx.adapter.to_lowercase();
    if ctx.is_cpu || name.contains("swiftshader") || name.contains("llvmpipe") {
        MatvecShape::Thread
    } else {
        MatvecShape::Workgroup
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_too_long_for_one_binding_is_refused_with_the_context_that_fits() {
        let text = r#"{"model_type":"llama","hidden_size":4096,
            "intermediate_size":14336,"num_hidden_layers":32,"num_attention_heads":32,
            "num_key_value_heads":8,"vocab_size":128256,"max_position_embeddings":131072,
            "rms_norm_eps":1e-5,"rope_theta":500000.0}"#;
        let c = ModelConfig::from_hf_json(text).unwrap();
        let binding = 128 << 20;
        // 8 kv heads × 128 dims × 2 bytes = 2 KiB per position: 65536 positions fit in 128 MiB.
        assert!(cache_fits(&c, 65536, KvPrecision::F16, binding).is_ok());
        let error = cache_fits(&c, 131072, KvPrecision::F16, binding).unwrap_err();
        assert!(error.0.contains("at most 65536"), "{error}");
        let error = cache_fits(&c, 65536, KvPrecision::F32, binding).unwrap_err();
        assert!(
            error.0.contains("KV cache") && error.0.contains("at most 32768"),
            "{error}"
        );
    }
}
