// f32 rows: 32 values per item.
const BLOCK_BYTES: u32 = 128u;
const PARTS: u32 = 1u;

fn dequant(base: u32, part: u32, out: ptr<function, array<f32, 32>>) {
    for (var i = 0u; i < 32u; i++) {
        (*out)[i] = bitcast<f32>(weights[(base >> 2u) + i]);
    }
}

// The dot product of this 32-weight item with x[xo..xo+32], without expanding it.
fn block_dot(base: u32, part: u32, xo: u32) -> f32 {
    var acc = 0.0;
    let w = base >> 2u;
    for (var i = 0u; i < 32u; i++) {
        acc += bitcast<f32>(weights[w + i]) * x[xo + i];
    }
    return acc;
}
