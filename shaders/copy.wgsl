// A plain buffer copy, four words per thread: the adapter's practical memory bandwidth, which
// the matrix-vector kernels are measured against (benches/engine.rs).
@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = id.x + id.y * groups.x * 64u;
    if (i < arrayLength(&src)) {
        dst[i] = src[i];
    }
}
