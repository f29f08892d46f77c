// Q5_0: f16 scale, u32 of fifth bits, 16 bytes of nibbles, offset 16.
const BLOCK_BYTES: u32 = 22u;
const PARTS: u32 = 1u;

fn dequant(base: u32, part: u32, out: ptr<function, array<f32, 32>>) {
    let d = half_at(base);
    let qh = u32_at(base + 2u);
    for (var j = 0u; j < 16u; j++) {
        let b = byte_at(base + 6u + j);
        let lo = (b & 15u) | (((qh >> j) & 1u) << 4u);
        let hi = (b >> 4u) | (((qh >> (j + 16u)) & 1u) << 4u);
        (*out)[j] = d * (f32(lo) - 16.0);
        (*out)[j + 16u] = d * (f32(hi) - 16.0);
    }
}

// The dot product of this 32-weight item with x[xo..xo+32], without expanding it.
fn block_dot(base: u32, part: u32, xo: u32) -> f32 {
    let qh = u32_at(base + 2u);
    var acc = 0.0;
    for (var k = 0u; k < 4u; k++) {
        let w = u32_at(base + 6u + 4u * k);
        for (var b = 0u; b < 4u; b++) {
            let q = (w >> (8u * b)) & 0xffu;
            let j = 4u * k + b;
            let lo = (q & 15u) | (((qh >> j) & 1u) << 4u);
            let hi = (q >> 4u) | (((qh >> (j + 16u)) & 1u) << 4u);
            acc += (f32(lo) - 16.0) * x[xo + j] + (f32(hi) - 16.0) * x[xo + j + 16u];
        }
    }
    return half_at(base) * acc;
}
