// SwiGLU over the stacked gate/up projection: act[i] = silu(gu[i]) · gu[n + i].
struct Count {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> act: array<f32>;
@group(0) @binding(1) var<storage, read> gu: array<f32>;
@group(0) @binding(2) var<uniform> count: Count;

@compute @workgroup_size(64)
fn swiglu(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < count.n) {
        let g = gu[id.x];
        act[id.x] = g / (1.0 + exp(-g)) * gu[count.n + id.x];
    }
}
