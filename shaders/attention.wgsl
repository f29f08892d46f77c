// Attention of each new query over the KV cache, one workgroup per query head (grouped-query:
// head h reads kv head h / (heads / kv_heads)) and token lane (y: lane l of a prefill batch is
// at position pos + l, its q at l * qkv_stride; lanes at or past `count` are idle). Scores, a
// stable softmax and the weighted sum of values, for positions 0..=pos + l. HEAD_DIM is a
// pipeline constant: loops with a trip count
// from a uniform ran 10× slower on lavapipe. The engine prepends the definition of kv_t, the
// cache's element type (f32, or f16 where the adapter has shader-f16); sums stay f32.
override HEAD_DIM: u32;
struct AttentionParams {
    head_dim: u32,
    heads: u32,
    kv_heads: u32,
    capacity: u32,
    scale: f32,
    qkv_stride: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Step {
    pos: u32,
    count: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> keys: array<kv_t>;
@group(0) @binding(2) var<storage, read> values: array<kv_t>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> params: AttentionParams;
@group(0) @binding(6) var<uniform> step: Step;

const THREADS: u32 = 64u;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let lane = group.y;
    if (lane >= step.count) {
        return;
    }
    let h = group.x;
    let hd = HEAD_DIM;
    let kv_dim = params.kv_heads * hd;
    let kv_head = h / (params.heads / params.kv_heads);
    let n = step.pos + lane + 1u;
    let row = (lane * params.heads + h) * params.capacity;
    let q_at = lane * params.qkv_stride + h * hd;
    var local_max = -3.4e38;
    for (var p = t; p < n; p += THREADS) {
        var dot = 0.0;
        let k = p * kv_dim + kv_head * hd;
        for (var d = 0u; d < HEAD_DIM; d++) {
            dot += q[q_at + d] * f32(keys[k + d]);
        }
        let s = dot * params.scale;
        scores[row + p] = s;
        local_max = max(local_max, s);
    }
    partial[t] = local_max;
    workgroupBarrier();
    for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
        if (t < stride) {
            partial[t] = max(partial[t], partial[t + stride]);
        }
        workgroupBarrier();
    }
    let m = partial[0];
    workgroupBarrier();
    var local_sum = 0.0;
    for (var p = t; p < n; p += THREADS) {
        let e = exp(scores[row + p] - m);
        scores[row + p] = e;
        local_sum += e;
    }
    partial[t] = local_sum;
    storageBarrier();
    workgroupBarrier();
    for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
        if (t < stride) {
            partial[t] += partial[t + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    for (var d = t; d < hd; d += THREADS) {
        var acc = 0.0;
        for (var p = 0u; p < n; p++) {
            acc += scores[row + p] * f32(values[p * kv_dim + kv_head * hd + d]);
        }
        out[(lane * params.heads + h) * hd + d] = acc / total;
    }
}
