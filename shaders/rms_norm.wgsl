// RMSNorm of consecutive groups of n values (the hidden state, or each head for Qwen3's q/k
// norm): dst = src / sqrt(mean(src²) + eps) * weight. One workgroup per group.
struct NormParams {
    n: u32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> params: NormParams;

const THREADS: u32 = 64u;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let base = group.x * params.n;
    var sum = 0.0;
    for (var i = t; i < params.n; i += THREADS) {
        let v = src[base + i];
        sum += v * v;
    }
    partial[t] = sum;
    workgroupBarrier();
    for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
        if (t < stride) {
            partial[t] += partial[t + stride];
        }
        workgroupBarrier();
    }
    let scale = 1.0 / sqrt(partial[0] / f32(params.n) + params.eps);
    for (var i = t; i < params.n; i += THREADS) {
        dst[base + i] = src[base + i] * scale * weight[i];
    }
}
