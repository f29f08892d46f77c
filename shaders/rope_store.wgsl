// Everything between the q/k/v projections and attention, in one dispatch: add the q/k/v
// biases (Qwen2), RMSNorm each q and k head (Qwen3), rotate q and k (RoPE, from a cos/sin
// table computed on the CPU), and store this position's k and v in the KV cache.
// Workgroups 0..heads are query heads; heads..heads+kv_heads are key/value heads; the y index
// is the token's lane in a prefill batch (lane l sits at position pos + l, its q/k/v at
// l * qkv_stride; lanes at or past `count` are idle).
// HEAD_DIM is a pipeline constant (see attention.wgsl). The engine prepends the definition of
// kv_t, the cache's element type: f32, or f16 where the adapter has shader-f16.
override HEAD_DIM: u32;
struct Params {
    head_dim: u32,
    heads: u32,
    kv_heads: u32,
    interleaved: u32,
    use_bias: u32,
    use_norm: u32,
    eps: f32,
    qkv_stride: u32,
}

struct Step {
    pos: u32,
    count: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read> norms: array<f32>;
@group(0) @binding(3) var<storage, read> table: array<f32>;
@group(0) @binding(4) var<storage, read_write> keys: array<kv_t>;
@group(0) @binding(5) var<storage, read_write> values: array<kv_t>;
@group(0) @binding(6) var<uniform> params: Params;
@group(0) @binding(7) var<uniform> step: Step;

const THREADS: u32 = 64u;
var<workgroup> head: array<f32, 512>;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let lane = group.y;
    if (lane >= step.count) {
        return;
    }
    let pos = step.pos + lane;
    let hd = HEAD_DIM;
    let q_dim = params.heads * hd;
    let kv_dim = params.kv_heads * hd;
    let is_query = group.x < params.heads;
    let kv_head = group.x - select(params.heads, 0u, is_query);
    let lane_base = lane * params.qkv_stride;
    var base = q_dim + kv_head * hd;
    if (is_query) {
        base = group.x * hd;
    }
    let cache = pos * kv_dim + kv_head * hd;
    for (var d = t; d < hd; d += THREADS) {
        var value = qkv[lane_base + base + d];
        if (params.use_bias != 0u) {
            value += bias[base + d];
        }
        head[d] = value;
        if (!is_query) {
            let v_at = q_dim + kv_dim + kv_head * hd + d;
            var v = qkv[lane_base + v_at];
            if (params.use_bias != 0u) {
                v += bias[v_at];
            }
            values[cache + d] = kv_t(v);
        }
    }
    workgroupBarrier();
    if (params.use_norm != 0u) {
        var sum = 0.0;
        for (var d = t; d < hd; d += THREADS) {
            sum += head[d] * head[d];
        }
        partial[t] = sum;
        workgroupBarrier();
        for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
            if (t < stride) {
                partial[t] += partial[t + stride];
            }
            workgroupBarrier();
        }
        let scale = 1.0 / sqrt(partial[0] / f32(hd) + params.eps);
        let weights_at = select(hd, 0u, is_query);
        for (var d = t; d < hd; d += THREADS) {
            head[d] = head[d] * scale * norms[weights_at + d];
        }
        workgroupBarrier();
    }
    let half = hd / 2u;
    for (var i = t; i < half; i += THREADS) {
        let at = (pos * half + i) * 2u;
        let c = table[at];
        let s = table[at + 1u];
        var a = i;
        var b = i + half;
        if (params.interleaved != 0u) {
            a = 2u * i;
            b = a + 1u;
        }
        let x0 = head[a];
        let x1 = head[b];
        head[a] = x0 * c - x1 * s;
        head[b] = x0 * s + x1 * c;
    }
    workgroupBarrier();
    for (var d = t; d < hd; d += THREADS) {
        if (is_query) {
            qkv[lane_base + base + d] = head[d];
        } else {
            keys[cache + d] = kv_t(head[d]);
        }
    }
}
