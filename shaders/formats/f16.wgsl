// f16 rows: 32 halves per item.
const BLOCK_BYTES: u32 = 64u;
const PARTS: u32 = 1u;

fn dequant(base: u32, part: u32, out: ptr<function, array<f32, 32>>) {
    for (var i = 0u; i < 32u; i++) {
        (*out)[i] = half_at(base + 2u * i);
    }
}

// The dot product of this 32-weight item with x[xo..xo+32], without expanding it.
fn block_dot(base: u32, part: u32, xo: u32) -> f32 {
    var acc = 0.0;
    for (var k = 0u; k < 16u; k++) {
        let pair = unpack2x16float(u32_at(base + 4u * k));
        acc += pair.x * x[xo + 2u * k] + pair.y * x[xo + 2u * k + 1u];
    }
    return acc;
}
