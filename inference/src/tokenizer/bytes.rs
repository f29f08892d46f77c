//! GPT-2's reversible byte ↔ printable-character mapping used by byte-level BPE vocabularies.

use std::sync::LazyLock;

/// The character for each byte value.
static BYTE_TO_CHAR: LazyLock<[char; 256]> = LazyLock::new(|| {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for byte in 0..=255u8 {
        let printable =
            (b'!'..=b'~').contains(&byte) || (0xa1..=0xac).contains(&byte) || byte >= 0xae;
        table[byte as usize] = if printable {
            char::from(byte)
        } else {
            let c = char::from_u32(next).unwrap_or('\u{fffd}');
            next += 1;
            c
        };
    }
    table
});

/// Bytes as vocabulary symbols.
pub fn to_symbols(bytes: &[u8]) -> String {
    bytes.iter().map(|b| BYTE_TO_CHAR[*b as usize]).collect()
}

/// Vocabulary symbols back to bytes (characters outside the table are kept as UTF-8).
pub fn from_symbols(symbols: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(symbols.len());
    for c in symbols.chars() {
        match BYTE_TO_CHAR.iter().position(|m| *m == c) {
            Some(byte) => out.push(byte as u8),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let symbols = to_symbols(&all);
        assert_eq!(symbols.chars().count(), 256);
        assert_eq!(from_symbols(&symbols), all);
        assert_eq!(to_symbols(b" "), "\u{120}", "space is Ġ");
        assert_eq!(to_symbols(b"\n"), "\u{10a}", "newline is Ċ");
    }
}
