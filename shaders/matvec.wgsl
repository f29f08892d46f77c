// y[out_offset + row] (+)= W[row] · x for one shard of a quantized matrix (`accumulate` adds to
// y: the residual connection). Two shapes: `main`, one workgroup per row whose 64 threads share
// the row's 32-weight items and reduce in workgroup memory (real GPUs), and `per_row`.
// Prepended at build time: bytes.wgsl and one formats/*.wgsl (BLOCK_BYTES, PARTS, dequant).
struct MatvecParams {
    rows: u32,
    cols: u32,
    row_bytes: u32,
    out_offset: u32,
    accumulate: u32,
    // Values per token in y (the batch entries write lane l's outputs at l * y_stride).
    y_stride: u32,
    _pad1: u32,
    _pad2: u32,
}

fn store(row: u32, sum: f32) {
    let at = params.out_offset + row;
    if (params.accumulate != 0u) {
        y[at] = y[at] + sum;
    } else {
        y[at] = sum;
    }
}

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: MatvecParams;

const THREADS: u32 = 64u;
const ROWS_PER_Y: u32 = 32768u;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let row = group.x + group.y * ROWS_PER_Y;
    if (row >= params.rows) {
        return;
    }
    let items = params.cols / 32u;
    let row_base = row * params.row_bytes;
    var sum = 0.0;
    for (var item = t; item < items; item += THREADS) {
        sum += block_dot(row_base + (item / PARTS) * BLOCK_BYTES, item % PARTS, item * 32u);
    }
    partial[t] = sum;
    workgroupBarrier();
    for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
        if (t < stride) {
            partial[t] += partial[t + stride];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        store(row, partial[0]);
    }
}

// One thread per row, no workgroup barriers: the better shape for CPU-emulated adapters
// (lavapipe, SwiftShader), where barriers are expensive and memory coalescing does not exist.
@compute @workgroup_size(64)
fn per_row(@builtin(global_invocation_id) id: vec3<u32>) {
    let row = id.x;
    if (row >= params.rows) {
        return;
    }
    let items = params.cols / 32u;
    let row_base = row * params.row_bytes;
    var sum = 0.0;
    for (var item = 0u; item < items; item++) {
        sum += block_dot(row_base + (item / PARTS) * BLOCK_BYTES, item % PARTS, item * 32u);
    }
    store(row, sum);
}

// Prefill: the same product for LANES tokens at once (x holds LANES rows of `cols`, lane l's
// outputs go to y at l * y_stride). Each 32-weight item is dequantized once and used for every
// lane, so weights are read and unpacked once per batch instead of once per token.
const LANES: u32 = 8u;

fn dot_lanes(w: ptr<function, array<f32, 32>>, xo: u32, sums: ptr<function, array<f32, LANES>>) {
    for (var lane = 0u; lane < LANES; lane++) {
        let base = lane * params.cols + xo;
        var s = 0.0;
        for (var i = 0u; i < 32u; i++) {
            s += (*w)[i] * x[base + i];
        }
        (*sums)[lane] += s;
    }
}

var<workgroup> lane_partial: array<f32, 512>;

@compute @workgroup_size(64)
fn main_lanes(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let row = group.x + group.y * ROWS_PER_Y;
    if (row >= params.rows) {
        return;
    }
    let items = params.cols / 32u;
    let row_base = row * params.row_bytes;
    var sums: array<f32, LANES>;
    var w: array<f32, 32>;
    for (var item = t; item < items; item += THREADS) {
        dequant(row_base + (item / PARTS) * BLOCK_BYTES, item % PARTS, &w);
        dot_lanes(&w, item * 32u, &sums);
    }
    for (var lane = 0u; lane < LANES; lane++) {
        lane_partial[lane * THREADS + t] = sums[lane];
    }
    workgroupBarrier();
    for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
        if (t < stride) {
            for (var lane = 0u; lane < LANES; lane++) {
                lane_partial[lane * THREADS + t] += lane_partial[lane * THREADS + t + stride];
            }
        }
        workgroupBarrier();
    }
    if (t < LANES) {
        store(t * params.y_stride + row, lane_partial[t * THREADS]);
    }
}

@compute @workgroup_size(64)
fn per_row_lanes(@builtin(global_invocation_id) id: vec3<u32>) {
    let row = id.x;
    if (row >= params.rows) {
        return;
    }
    let items = params.cols / 32u;
    let row_base = row * params.row_bytes;
    var sums: array<f32, LANES>;
    var w: array<f32, 32>;
    for (var item = 0u; item < items; item++) {
        dequant(row_base + (item / PARTS) * BLOCK_BYTES, item % PARTS, &w);
        dot_lanes(&w, item * 32u, &sums);
    }
    for (var lane = 0u; lane < LANES; lane++) {
        store(lane * params.y_stride + row, sums[lane]);
    }
}
