//! The safetensors reader against a file written by the `safetensors` package: metadata, and
//! F32/F16/BF16 values widened bit-exactly; then damaged headers, each with its clear error,
//! and seeded mutations that must never panic.

use airlock_inference::safetensors::{SafeDtype, SafeTensors, SafetensorsError, to_f32};
use serde_json::Value;

const FILE: &[u8] = include_bytes!("fixtures/tensors.safetensors");
const EXPECTED: &str = include_str!("fixtures/tensors.expected.json");

#[test]
fn tensors_and_metadata_match_the_reference() {
    let file = SafeTensors::parse(FILE).unwrap();
    assert_eq!(file.metadata["source"], "airlock-fixture");
    let expected: Value = serde_json::from_str(EXPECTED).unwrap();
    let dtypes: Vec<SafeDtype> = file.tensors.iter().map(|t| t.dtype).collect();
    assert_eq!(dtypes, [SafeDtype::F32, SafeDtype::F16, SafeDtype::BF16]);
    for tensor in &file.tensors {
        let reference = &expected[&tensor.name];
        let shape: Vec<usize> = reference["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(tensor.shape, shape, "{}", tensor.name);
        let values = to_f32(tensor.dtype, &FILE[tensor.start..tensor.end]);
        let bits: Vec<u32> = reference["bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            bits,
            "{}",
            tensor.name
        );
    }
}

fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn damaged_files_get_clear_errors() {
    assert_eq!(
        SafeTensors::parse(&FILE[..5]).unwrap_err(),
        SafetensorsError::Truncated("header length".into())
    );
    assert_eq!(
        SafeTensors::parse(&FILE[..40]).unwrap_err(),
        SafetensorsError::Truncated("header".into())
    );
    assert_eq!(
        SafeTensors::parse(&FILE[..FILE.len() - 1]).unwrap_err(),
        SafetensorsError::Truncated("tensor data".into())
    );
    let mut huge = FILE.to_vec();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        SafeTensors::parse(&huge).unwrap_err(),
        SafetensorsError::HeaderTooLarge(u64::MAX)
    );
    let cases = [
        (r#"[1,2]"#, "not a JSON object"),
        (
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
            "4 bytes of data for shape [2]",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            "holes or overlaps",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
            "non-negative",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#,
            "overflows",
        ),
        (r#"{"__metadata__":{"k":1}}"#, "is not a string"),
        (r#"{"a":{"dtype":"F32","shape":[1]}}"#, "data_offsets"),
        ("{not json", "invalid safetensors header"),
    ];
    for (header, needle) in cases {
        let err = SafeTensors::parse(&with_header(header, &[0; 8])).unwrap_err();
        assert!(err.to_string().contains(needle), "{header}: {err}");
    }
    let int = with_header(
        r#"{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#,
        &[0; 8],
    );
    assert_eq!(
        SafeTensors::parse(&int).unwrap_err(),
        SafetensorsError::UnsupportedDtype {
            name: "ids".into(),
            dtype: "I64".into()
        }
    );
    let trailing = with_header(
        r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
        &[0; 8],
    );
    assert!(
        SafeTensors::parse(&trailing)
            .unwrap_err()
            .to_string()
            .contains("after the last tensor")
    );
}

#[test]
fn mutations_never_panic() {
    let header_end = 8 + u64::from_le_bytes(FILE[..8].try_into().unwrap()) as usize;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let mut bytes = FILE.to_vec();
        for _ in 0..1 + next() % 3 {
            let at = (next() % header_end as u64) as usize;
            bytes[at] = next() as u8;
        }
        if let Ok(file) = SafeTensors::parse(&bytes) {
            for tensor in &file.tensors {
                let _ = to_f32(tensor.dtype, &bytes[tensor.start..tensor.end]);
            }
        }
    }
}
