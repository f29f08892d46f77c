// Airlock block-32 int4: f32 scale, then 32 levels as nibbles (offset 8), weight 2k in the low
// nibble of byte k.
const BLOCK_BYTES: u32 = 20u;
const PARTS: u32 = 1u;

fn dequant(base: u32, part: u32, out: ptr<function, array<f32, 32>>) {
    let scale = bitcast<f32>(weights[base >> 2u]);
    for (var k = 0u; k < 16u; k++) {
        let b = byte_at(base + 4u + k);
        (*out)[2u * k] = scale * (f32(b & 15u) - 8.0);
        (*out)[2u * k + 1u] = scale * (f32(b >> 4u) - 8.0);
    }
}

// The dot product of this 32-weight item with x[xo..xo+32], without expanding it.
fn block_dot(base: u32, part: u32, xo: u32) -> f32 {
    var acc = 0.0;
    let w0 = (base >> 2u) + 1u;
    for (var k = 0u; k < 4u; k++) {
        let w = weights[w0 + k];
        for (var i = 0u; i < 8u; i++) {
            acc += (f32((w >> (4u * i)) & 15u) - 8.0) * x[xo + 8u * k + i];
        }
    }
    return bitcast<f32>(weights[base >> 2u]) * acc;
}
