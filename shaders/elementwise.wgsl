// SwiGLU over the stacked gate/up projection, for each token lane l of `lanes`:
// act[l·n + i] = silu(gu[2l·n + i]) · gu[2l·n + n + i].
struct Count {
    n: u32,
    lanes: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> act: array<f32>;
@group(0) @binding(1) var<storage, read> gu: array<f32>;
@group(0) @binding(2) var<uniform> count: Count;

@compute @workgroup_size(64)
fn swiglu(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < count.n * count.lanes) {
        let lane = id.x / count.n;
        let i = id.x % count.n;
        let at = 2u * lane * count.n + i;
        let g = gu[at];
        act[id.x] = g / (1.0 + exp(-g)) * gu[at + count.n];
    }
}
