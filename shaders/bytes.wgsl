// Byte-level access to a weight buffer bound as array<u32>: GGUF blocks are not 4-byte
// aligned (Q4_0 is 18 bytes), so formats read bytes, halves and unaligned words by offset.
@group(0) @binding(0) var<storage, read> weights: array<u32>;

fn byte_at(i: u32) -> u32 {
    return (weights[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

// An IEEE half at an even byte offset, widened to f32 (no shader-f16 needed).
fn half_at(i: u32) -> f32 {
    let pair = unpack2x16float(weights[i >> 2u]);
    return select(pair.x, pair.y, (i & 2u) != 0u);
}

fn u32_at(i: u32) -> u32 {
    let shift = (i & 3u) * 8u;
    let low = weights[i >> 2u];
    if (shift == 0u) {
        return low;
    }
    return (low >> shift) | (weights[(i >> 2u) + 1u] << (32u - shift));
}

fn signed_byte(b: u32) -> f32 {
    return f32(i32(b << 24u) >> 24u);
}
