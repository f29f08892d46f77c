// Q6_K: 256 weights = 8 parts of 32; 128 bytes of low nibbles, 64 bytes of high 2-bit pairs,
// 16 int8 scales (one per 16 weights), f16 d.
const BLOCK_BYTES: u32 = 210u;
const PARTS: u32 = 8u;

fn dequant(base: u32, part: u32, out: ptr<function, array<f32, 32>>) {
    let d = half_at(base + 208u);
    let half = part / 4u;
    let g = part % 4u;
    let ql = base + 64u * half + 32u * (g & 1u);
    let qh = base + 128u + 32u * half;
    let nibble_shift = 4u * (g / 2u);
    for (var l = 0u; l < 32u; l++) {
        let low = (byte_at(ql + l) >> nibble_shift) & 15u;
        let high = (byte_at(qh + l) >> (2u * g)) & 3u;
        let scale = signed_byte(byte_at(base + 192u + 8u * half + 2u * g + l / 16u));
        (*out)[l] = d * scale * (f32(low | (high << 4u)) - 32.0);
    }
}

// The dot product of this 32-weight item with x[xo..xo+32], without expanding it.
fn block_dot(base: u32, part: u32, xo: u32) -> f32 {
    let d = half_at(base + 208u);
    let half = part / 4u;
    let g = part % 4u;
    let ql = base + 64u * half + 32u * (g & 1u);
    let qh = base + 128u + 32u * half;
    let nibble_shift = 4u * (g / 2u);
    let scales = base + 192u + 8u * half + 2u * g;
    var acc0 = 0.0;
    var acc1 = 0.0;
    for (var k = 0u; k < 8u; k++) {
        let low = u32_at(ql + 4u * k) >> nibble_shift;
        let high = u32_at(qh + 4u * k) >> (2u * g);
        var acc = 0.0;
        for (var b = 0u; b < 4u; b++) {
            let q = ((low >> (8u * b)) & 15u) | (((high >> (8u * b)) & 3u) << 4u);
            acc += (f32(q) - 32.0) * x[xo + 4u * k + b];
        }
        if (k < 4u) {
            acc0 += acc;
        } else {
            acc1 += acc;
        }
    }
    return d * (signed_byte(byte_at(scales)) * acc0 + signed_byte(byte_at(scales + 1u)) * acc1);
}
