// Q4_1: f16 scale and min, 16 bytes of nibbles.
const BLOCK_BYTES: u32 = 20u;
const PARTS: u32 = 1u;

fn dequant(base: u32, part: u32, out: ptr<function, array<f32, 32>>) {
    let d = half_at(base);
    let m = half_at(base + 2u);
    for (var j = 0u; j < 16u; j++) {
        let b = byte_at(base + 4u + j);
        (*out)[j] = d * f32(b & 15u) + m;
        (*out)[j + 16u] = d * f32(b >> 4u) + m;
    }
}

// The dot product of this 32-weight item with x[xo..xo+32], without expanding it. Q4_1 blocks
// are 20 bytes and rows whole words, so every block starts on a word: read words directly.
fn block_dot(base: u32, part: u32, xo: u32) -> f32 {
    let word = base >> 2u;
    let dm = unpack2x16float(weights[word]);
    var acc = 0.0;
    var xsum = 0.0;
    for (var k = 0u; k < 4u; k++) {
        let w = weights[word + 1u + k];
        for (var b = 0u; b < 4u; b++) {
            let q = (w >> (8u * b)) & 0xffu;
            let j = 4u * k + b;
            let x0 = x[xo + j];
            let x1 = x[xo + j + 16u];
            acc += f32(q & 15u) * x0 + f32(q >> 4u) * x1;
            xsum += x0 + x1;
        }
    }
    return dm.x * acc + dm.y * xsum;
}
