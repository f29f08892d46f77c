//! Quick timing of GPU decode steps on a tiny fixture model.
use std::sync::Arc;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let bytes = Arc::new(std::fs::read(&path).unwrap());
    let file = airlock_inference::gguf::GgufFile::parse(&bytes).unwrap();
    let mut weights = airlock_inference::model::load_gguf(&bytes, &file).unwrap();
    if let Some(n) = std::env::args().nth(2) {
        weights.layers.truncate(n.parse().unwrap());
        weights.config.layers = weights.layers.len();
    }
    let mut gpu = pollster::block_on(airlock_inference::gpu::GpuModel::new(
        &weights,
        256,
        Default::default(),
    ))
    .unwrap();
    use airlock_inference::generate::Forward;
    gpu.forward(&[1], 0).unwrap();
    let t = std::time::Instant::now();
    for pos in 1..33 {
        gpu.forward(&[1], pos).unwrap();
    }
    println!(
        "{:.2} ms per step",
        t.elapsed().as_secs_f64() * 1000.0 / 32.0
    );
}
