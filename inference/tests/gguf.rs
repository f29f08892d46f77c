//! The GGUF reader against files written by llama.cpp's own `gguf` package: metadata of every
//! kind, and every block type dequantized bit for bit like gguf's dequantizer. Then bad files:
//! each kind of damage gives its clear error, and thousands of mutations never panic.

use airlock_inference::gguf::{GgmlType, GgufError, GgufFile, MetaValue, dequantize};

const BLOCKS: &[u8] = include_bytes!("fixtures/blocks.gguf");
const EXPECTED: &[u8] = include_bytes!("fixtures/expected.gguf");

#[test]
fn metadata_of_every_kind_is_read() {
    let file = GgufFile::parse(BLOCKS).unwrap();
    assert_eq!(file.version, 3);
    let meta = &file.metadata;
    assert_eq!(meta["general.architecture"].as_str(), Some("llama"));
    assert_eq!(
        meta["general.name"].as_str(),
        Some("airlock-dequant-fixture")
    );
    assert_eq!(meta["airlock.u32"], MetaValue::U64(4_000_000_000));
    assert_eq!(meta["airlock.i32"], MetaValue::I64(-7));
    assert_eq!(meta["airlock.f32"], MetaValue::F64(0.25));
    assert_eq!(meta["airlock.bool"], MetaValue::Bool(true));
    assert_eq!(meta["airlock.u64"], MetaValue::U64(1 << 40));
    let strings = MetaValue::Array(
        ["<s>", "</s>", "héllo"]
            .map(|s| MetaValue::Str(s.into()))
            .to_vec(),
    );
    assert_eq!(meta["airlock.strings"], strings);
    assert_eq!(
        meta["airlock.ints"],
        MetaValue::Array(vec![
            MetaValue::I64(1),
            MetaValue::I64(-2),
            MetaValue::I64(3)
        ])
    );
    let names: Vec<&str> = file.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "f32", "f16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q6_k"
        ]
    );
    assert_eq!(file.tensor("q4_k").unwrap().dims, [512, 2]);
}

#[test]
fn every_block_type_dequantizes_bit_for_bit_like_gguf() {
    let file = GgufFile::parse(BLOCKS).unwrap();
    let expected = GgufFile::parse(EXPECTED).unwrap();
    let mut types = Vec::new();
    for tensor in &file.tensors {
        let ours = dequantize(
            tensor.ggml_type,
            file.tensor_bytes(BLOCKS, tensor).unwrap(),
            tensor.elements() as usize,
        )
        .unwrap();
        let reference = expected.tensor(&tensor.name).unwrap();
        assert_eq!(reference.ggml_type, GgmlType::F32);
        let theirs = dequantize(
            GgmlType::F32,
            expected.tensor_bytes(EXPECTED, reference).unwrap(),
            reference.elements() as usize,
        )
        .unwrap();
        assert_eq!(ours.len(), theirs.len(), "{}", tensor.name);
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "{} element {i}: {a} vs {b}",
                tensor.name
            );
        }
        assert!(
            ours.iter().any(|v| *v != 0.0),
            "{} is not all zeros",
            tensor.name
        );
        types.push(tensor.ggml_type);
    }
    assert_eq!(
        types,
        [
            GgmlType::F32,
            GgmlType::F16,
            GgmlType::Q8_0,
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_0,
            GgmlType::Q5_1,
            GgmlType::Q4K,
            GgmlType::Q6K
        ]
    );
}

#[test]
fn each_kind_of_damage_has_a_clear_error() {
    let mut wrong_magic = BLOCKS.to_vec();
    wrong_magic[0] = b'X';
    assert_eq!(
        GgufFile::parse(&wrong_magic).unwrap_err(),
        GgufError::BadMagic
    );

    let mut old = BLOCKS.to_vec();
    old[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(
        GgufFile::parse(&old).unwrap_err(),
        GgufError::UnsupportedVersion(1)
    );

    let mut huge = BLOCKS.to_vec();
    huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        GgufFile::parse(&huge).unwrap_err(),
        GgufError::TooLarge {
            what: "tensor count",
            ..
        }
    ));

    let file = GgufFile::parse(BLOCKS).unwrap();
    let last = file.tensors.last().unwrap();
    let cut = &BLOCKS[..(last.file_offset + last.byte_len - 1) as usize];
    let err = GgufFile::parse(cut).unwrap_err();
    assert_eq!(err, GgufError::Truncated("data of tensor \"q6_k\"".into()));
    assert!(err.to_string().contains("truncated"));

    let mut unknown_type = BLOCKS.to_vec();
    let type_at = find_tensor_type_field(&unknown_type, "q8_0");
    unknown_type[type_at..type_at + 4].copy_from_slice(&99u32.to_le_bytes());
    assert_eq!(
        GgufFile::parse(&unknown_type).unwrap_err(),
        GgufError::UnknownTensorType {
            name: "q8_0".into(),
            id: 99
        }
    );

    let mut bad_shape = BLOCKS.to_vec();
    let dim_at = type_at - 16;
    bad_shape[dim_at..dim_at + 8].copy_from_slice(&255u64.to_le_bytes());
    assert!(
        GgufFile::parse(&bad_shape)
            .unwrap_err()
            .to_string()
            .contains("whole Q8_0 blocks")
    );

    assert!(
        dequantize(GgmlType::Q4K, &[0u8; 143], 256).is_err(),
        "wrong byte count for the shape"
    );
    assert!(GgufFile::parse(b"").is_err());
}

/// Offset of the type field of tensor `name` in the directory (after its two dimensions).
fn find_tensor_type_field(bytes: &[u8], name: &str) -> usize {
    let mut needle = (name.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(name.as_bytes());
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    at + needle.len() + 4 + 2 * 8
}

#[test]
fn truncations_and_mutations_never_panic() {
    let header_len = GgufFile::parse(BLOCKS).unwrap().data_offset as usize;
    for len in 0..header_len {
        assert!(
            GgufFile::parse(&BLOCKS[..len]).is_err(),
            "prefix of {len} bytes parsed"
        );
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut parsed = 0;
    for _ in 0..3000 {
        let mut bytes = BLOCKS.to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() % header_len as u64) as usize;
            bytes[at] = next() as u8;
        }
        if let Ok(file) = GgufFile::parse(&bytes) {
            parsed += 1;
            for tensor in &file.tensors {
                let data = file.tensor_bytes(&bytes, tensor).unwrap();
                let _ = dequantize(tensor.ggml_type, data, tensor.elements() as usize);
            }
        }
    }
    assert!(
        parsed > 0,
        "some mutations only touch values, which must still parse"
    );
}

#[test]
fn every_prefix_of_a_header_asks_for_more_bytes_or_parses() {
    let full = GgufFile::parse(BLOCKS).unwrap();
    let header_len = full.data_offset as usize;
    let mut complete = None;
    for cut in 0..=header_len {
        match GgufFile::parse_header(&BLOCKS[..cut], BLOCKS.len() as u64) {
            Err(GgufError::Truncated(_)) if complete.is_none() => {}
            Ok(_) => {
                complete.get_or_insert(cut);
            }
            other => panic!("prefix of {cut} bytes: {other:?}"),
        }
    }
    // The header proper ends before the alignment padding.
    assert!(
        complete.is_some_and(|at| at > header_len - 32),
        "{complete:?}"
    );
    let streamed = GgufFile::parse_header(&BLOCKS[..header_len], BLOCKS.len() as u64).unwrap();
    assert_eq!(streamed.tensors, full.tensors);
    assert!(matches!(
        GgufFile::parse_header(&BLOCKS[..header_len], header_len as u64 + 10),
        Err(GgufError::Truncated(_))
    ));
}
