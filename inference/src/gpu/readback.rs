//! Reading a GPU buffer back: `map_async` completes through a callback, which natively runs
//! during `device.poll` and in the browser from the event loop; this future covers both.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::GpuError;

#[derive(Default)]
struct Slot {
    result: Option<Result<(), wgpu::BufferAsyncError>>,
    waker: Option<Waker>,
}

struct Mapped(Arc<Mutex<Slot>>);

impl Future for Mapped {
    type Output = Result<(), wgpu::BufferAsyncError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match slot.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The first `count` f32 values of a MAP_READ buffer (after the submitted work finishes).
pub async fn read_f32(
    device: &wgpu::Device,
    buffer: &wgpu::Buffer,
    count: usize,
) -> Result<Vec<f32>, GpuError> {
    let slot = Arc::new(Mutex::new(Slot::default()));
    let callback_slot = Arc::clone(&slot);
    let bytes = (count * 4) as u64;
    buffer.map_async(wgpu::MapMode::Read, 0..bytes, move |result| {
        let mut slot = callback_slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.result = Some(result);
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    });
    #[cfg(not(target_arch = "wasm32"))]
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError(format!("GPU wait failed: {e}")))?;
    #[cfg(target_arch = "wasm32")]
    let _ = device;
    Mapped(slot)
        .await
        .map_err(|e| GpuError(format!("cannot read GPU results: {e}")))?;
    let values = {
        let view = buffer
            .get_mapped_range(0..bytes)
            .map_err(|e| GpuError(format!("cannot read GPU results: {e}")))?;
        view.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    buffer.unmap();
    Ok(values)
}
