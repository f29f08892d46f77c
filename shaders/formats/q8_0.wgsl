// Q8_0: f16 scale, 32 × int8.
const BLOCK_BYTES: u32 = 34u;
const PARTS: u32 = 1u;

fn dequant(base: u32, part: u32, out: ptr<function, array<f32, 32>>) {
    let d = half_at(base);
    for (var i = 0u; i < 32u; i++) {
        (*out)[i] = d * signed_byte(byte_at(base + 2u + i));
    }
}

// The dot product of this 32-weight item with x[xo..xo+32], without expanding it.
fn block_dot(base: u32, part: u32, xo: u32) -> f32 {
    var acc = 0.0;
    for (var k = 0u; k < 8u; k++) {
        let w = u32_at(base + 2u + 4u * k);
        for (var b = 0u; b < 4u; b++) {
            acc += signed_byte((w >> (8u * b)) & 0xffu) * x[xo + 4u * k + b];
        }
    }
    return half_at(base) * acc;
}
