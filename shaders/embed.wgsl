// The token embedding: expands one row of a (quantized) matrix shard into `out`.
// Prepended at build time: bytes.wgsl and one formats/*.wgsl.
struct EmbedParams {
    // `main`: the row to expand. `lanes`: the first row of this shard.
    row: u32,
    cols: u32,
    row_bytes: u32,
    // `lanes`: rows in this shard.
    rows: u32,
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

// Prefill: the rows of a batch of tokens (lane y's token is tokens[y]) into out[y * cols..],
// for the tokens that fall in this shard (one dispatch per shard).
@group(0) @binding(4) var<storage, read> tokens: array<u32>;

@compute @workgroup_size(64)
fn lanes(@builtin(global_invocation_id) id: vec3<u32>) {
    let item = id.x;
    let lane = id.y;
    let token = tokens[lane];
    if (item >= params.cols / 32u || token < params.row || token >= params.row + params.rows) {
        return;
    }
    var values: array<f32, 32>;
    let base = (token - params.row) * params.row_bytes + (item / PARTS) * BLOCK_BYTES;
    dequant(base, item % PARTS, &values);
    for (var i = 0u; i < 32u; i++) {
        out[lane * params.cols + item * 32u + i] = values[i];
    }
}
