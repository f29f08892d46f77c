// Q4_0: f16 scale, 16 bytes of nibbles (low nibbles are weights 0-15, high 16-31), offset 8.
const BLOCK_BYTES: u32 = 18u;
const PARTS: u32 = 1u;

fn dequant(base: u32, part: u32, out: ptr<function, array<f32, 32>>) {
    let d = half_at(base);
    for (var j = 0u; j < 16u; j++) {
        let b = byte_at(base + 2u + j);
        (*out)[j] = d * (f32(b & 15u) - 8.0);
        (*out)[j + 16u] = d * (f32(b >> 4u) - 8.0);
    }
}

// The dot product of this 32-weight item with x[xo..xo+32], without expanding it.
fn block_dot(base: u32, part: u32, xo: u32) -> f32 {
    var acc = 0.0;
    for (var k = 0u; k < 4u; k++) {
        let w = u32_at(base + 2u + 4u * k);
        for (var b = 0u; b < 4u; b++) {
            let q = (w >> (8u * b)) & 0xffu;
            let j = 4u * k + b;
            acc += (f32(q & 15u) - 8.0) * x[xo + j] + (f32(q >> 4u) - 8.0) * x[xo + j + 16u];
        }
    }
    return half_at(base) * acc;
}
