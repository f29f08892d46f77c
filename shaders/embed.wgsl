// The token embedding: expands one row of a (quantized) matrix shard into `out`.
// Prepended at build time: bytes.wgsl and one formats/*.wgsl.
struct EmbedParams {
    row: u32,
    cols: u32,
    row_bytes: u32,
    _pad: u32,
}

// Declared for the formats' block_dot, which this kernel does not call.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: EmbedParams;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let item = id.x;
    if (item >= params.cols / 32u) {
        return;
    }
    var values: array<f32, 32>;
    dequant(params.row * params.row_bytes + (item / PARTS) * BLOCK_BYTES, item % PARTS, &values);
    for (var i = 0u; i < 32u; i++) {
        out[item * 32u + i] = values[i];
    }
}
