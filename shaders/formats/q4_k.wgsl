// Q4_K: 256 weights = 8 parts of 32; f16 d and dmin, 12 bytes of 6-bit scales/mins, 128 bytes
// of nibbles (part j uses the low or high nibbles of 32-byte chunk j/2).
const BLOCK_BYTES: u32 = 144u;
const PARTS: u32 = 8u;

fn scale_min_k4(base: u32, j: u32) -> vec2<u32> {
    if (j < 4u) {
        return vec2<u32>(byte_at(base + 4u + j) & 63u, byte_at(base + 8u + j) & 63u);
    }
    let sc = (byte_at(base + 8u + j) & 15u) | ((byte_at(base + j) >> 6u) << 4u);
    let m = (byte_at(base + 8u + j) >> 4u) | ((byte_at(base + 4u + j) >> 6u) << 4u);
    return vec2<u32>(sc, m);
}

fn dequant(base: u32, part: u32, out: ptr<function, array<f32, 32>>) {
    let d = half_at(base);
    let dmin = half_at(base + 2u);
    let sm = scale_min_k4(base, part);
    let scale = d * f32(sm.x);
    let offset = dmin * f32(sm.y);
    let chunk = base + 16u + 32u * (part / 2u);
    let shift = 4u * (part & 1u);
    for (var l = 0u; l < 32u; l++) {
        (*out)[l] = scale * f32((byte_at(chunk + l) >> shift) & 15u) - offset;
    }
}

// The dot product of this 32-weight item with x[xo..xo+32], without expanding it.
fn block_dot(base: u32, part: u32, xo: u32) -> f32 {
    let sm = scale_min_k4(base, part);
    let chunk = base + 16u + 32u * (part / 2u);
    let shift = 4u * (part & 1u);
    var acc = 0.0;
    var xsum = 0.0;
    for (var k = 0u; k < 8u; k++) {
        let w = u32_at(chunk + 4u * k) >> shift;
        for (var b = 0u; b < 4u; b++) {
            let xv = x[xo + 4u * k + b];
            acc += f32((w >> (8u * b)) & 15u) * xv;
            xsum += xv;
        }
    }
    return half_at(base) * f32(sm.x) * acc - half_at(base + 2u) * f32(sm.y) * xsum;
}
