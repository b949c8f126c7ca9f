//! The non-blocking calls, [`Codec::compress_async`] and [`Codec::decompress_async`], for hosts
//! that run their own event loop and must not block a frame.
//!
//! Each call runs the codec on a worker thread of its own and returns a future that a
//! `futures` oneshot channel completes with the result. The host's thread only polls the
//! future. With a host-owned device in host-polling mode
//! ([`GpuContext::with_host_polling`](crate::gpu::GpuContext::with_host_polling)) the worker
//! never polls the device either: its GPU readbacks wait for their `map_async` callbacks, which
//! the host's own `Device::poll` fires, frame by frame.

use std::future::Future;
use std::sync::Arc;

use futures::channel::oneshot;
use image::RgbImage;

use super::images::Codec;
use crate::error::{Error, Result};

impl Codec {
    /// Compresses `image` without blocking the caller: the work starts now on a worker thread
    /// and the returned future resolves to the stream, the same bytes as
    /// [`compress`](Self::compress). Dropping the future does not stop the work.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use vaerans::prelude::*;
    /// # fn main() -> vaerans::Result<()> {
    /// let codec = Arc::new(Codec::new()?);
    /// let image = image::RgbImage::new(64, 64);
    /// let pending = codec.compress_async(image);
    /// // … the host's event loop goes on; some task awaits `pending` …
    /// let stream = futures::executor::block_on(pending)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn compress_async(
        self: &Arc<Self>,
        image: RgbImage,
    ) -> impl Future<Output = Result<Vec<u8>>> + Send + 'static {
        let codec = Arc::clone(self);
        off_thread(move || codec.compress(&image))
    }

    /// Decompresses `stream` without blocking the caller, as
    /// [`compress_async`](Self::compress_async) compresses; resolves to the same image as
    /// [`decompress`](Self::decompress).
    pub fn decompress_async(
        self: &Arc<Self>,
        stream: Vec<u8>,
    ) -> impl Future<Output = Result<RgbImage>> + Send + 'static {
        let codec = Arc::clone(self);
        off_thread(move || codec.decompress(&stream))
    }
}

/// Runs `work` on a new thread; the future resolves to its result.
fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> impl Future<Output = Result<T>> + Send + 'static {
    let (tx, rx) = oneshot::channel();
    let started = std::thread::Builder::new()
        .name("vaerans-async".into())
        .spawn(move || {
            // The receiver may be gone (the future dropped); the result is then nobody's.
            let _ = tx.send(work());
        })
        .map(drop)
        .map_err(|e| Error::Internal(format!("starting the codec's worker thread: {e}")));
    async move {
        started?;
        rx.await.map_err(|_| {
            Error::Internal("the codec's worker thread ended without a result".into())
        })?
    }
}
