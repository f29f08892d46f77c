// Airlock block-32 int8: f32 scale, then 32 int8 levels (8 words).
const BLOCK_BYTES: u32 = 36u;
const PARTS: u32 = 1u;

fn dequant(base: u32, part: u32, out: ptr<function, array<f32, 32>>) {
    let scale = bitcast<f32>(weights[base >> 2u]);
    for (var i = 0u; i < 32u; i++) {
        (*out)[i] = scale * signed_byte(byte_at(base + 4u + i));
    }
}

// The dot product of this 32-weight item with x[xo..xo+32], without expanding it.
fn block_dot(base: u32, part: u32, xo: u32) -> f32 {
    var acc = 0.0;
    let w0 = (base >> 2u) + 1u;
    for (var k = 0u; k < 8u; k++) {
        let w = weights[w0 + k];
        for (var b = 0u; b < 4u; b++) {
            acc += signed_byte((w >> (8u * b)) & 0xffu) * x[xo + 4u * k + b];
        }
    }
    return bitcast<f32>(weights[base >> 2u]) * acc;
}
