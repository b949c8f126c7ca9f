//! Pipelined batch encoding and decoding: [`Codec::compress_each`],
//! [`Codec::decompress_each`] and [`Decoders::decompress_each`](super::Decoders::decompress_each).
//!
//! See [`Pipeline`] for how a run is organised.

use std::collections::BTreeMap;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::RgbImage;
use rayon::prelude::*;

use super::images::{Codec, RawImage};
use crate::bitstream::AnsBitstream;
use crate::error::{Error, Result};
use crate::vae::{ExecutionProvider, Vae};
use crate::World;

/// Most lanes a pipeline opens by itself (each CPU lane holds its own sessions and arenas).
const MAX_AUTO_LANES: usize = 8;

/// How a pipelined run is split: images per batch and batches coded side by side. `None`
/// chooses from the model's provider (see [`Pipeline::resolve`]).
///
/// A run has three kinds of threads, joined by bounded queues:
///
/// ```text
/// items ─▶ loader ─(queue)─▶ lane 0 ─┐
///          (rayon: decode     lane 1 ─┼─(in order)─▶ sink (the caller's thread:
///           one batch's       …      ─┘               write, report)
///           items at once)    (each: VAE on its provider, latent stages, rANS,
///                              in its own world)
/// ```
///
/// While one lane waits on the VAE another runs its latent stages and entropy coding, the loader
/// decodes the next batch, and the caller writes the last one. At most `lanes + 2` batches are
/// in flight (loaded, being coded, or waiting to be written in order), whatever the number of
/// items, so memory stays bounded.
///
/// On the CPU provider each lane has its own VAE sessions with a share of the cores: ONNX
/// Runtime runs one small call on several threads less efficiently than several calls side by
/// side (see the README's pipeline figures). On a GPU provider the lanes share the one model on
/// the device and overlap its work with the latent stages and the CPU's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pipeline {
    /// Images per batch (one world pass, split further by the codec's arena budget and the
    /// model's largest session call).
    pub batch: Option<usize>,
    /// Batches coded at once, each in its own lane.
    pub lanes: Option<usize>,
}

impl Pipeline {
    /// Sets [`batch`](Self::batch) (at least 1).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = Some(batch.max(1));
        self
    }

    /// Sets [`lanes`](Self::lanes) (at least 1).
    pub fn with_lanes(mut self, lanes: usize) -> Self {
        self.lanes = Some(lanes.max(1));
        self
    }

    /// The batch size and lane count a run of `vae` uses. On the CPU provider: one lane per
    /// core (at most 8), one image per batch (measured on the embedded model: one ONNX
    /// Runtime thread per call, calls side by side, is the fastest use of the cores, and a
    /// batch buys a single-threaded call nothing). On a GPU provider: two lanes, so the device
    /// works on one batch while the CPU finishes the other, and batches of the model's largest
    /// session call.
    pub fn resolve(&self, vae: &Vae) -> (usize, usize) {
        let cpu = vae.provider() == ExecutionProvider::Cpu;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let lanes = self
            .lanes
            .unwrap_or(if cpu { cores.min(MAX_AUTO_LANES) } else { 2 });
        let batch = self.batch.unwrap_or(if cpu { 1 } else { vae.max_batch() });
        (batch.max(1), lanes.max(1))
    }
}

/// What a pipelined run did.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PipelineReport {
    /// Items the sink was given (every item, each with its own result).
    pub items: usize,
    /// Batches.
    pub batches: usize,
    /// Images per batch.
    pub batch: usize,
    /// Lanes.
    pub lanes: usize,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Time the loader spent loading, summed over batches.
    pub loading: Duration,
    /// Time the lanes spent coding, summed over lanes.
    pub coding: Duration,
    /// Time the sink took, summed over batches.
    pub sinking: Duration,
}

/// One lane of a codec's pipeline: its own world and, on the CPU provider, its own sessions.
#[derive(Debug)]
pub(super) struct Lane {
    vae: Arc<Vae>,
    world: Mutex<World>,
    /// The share of the cores its own sessions have; `None` when it shares the codec's.
    threads: Option<usize>,
}

impl Lane {
    pub(super) fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Codec {
    /// The first `n` lanes, made on first use: on the CPU provider each with its own sessions
    /// on `cores / n` threads (opened by the lane's first call), on other providers sharing
    /// this codec's model.
    pub(super) fn lanes(&self, n: usize) -> Result<Vec<Arc<Lane>>> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let cpu = self.vae.provider() == ExecutionProvider::Cpu;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = (cores / n).max(1);
        // Lanes opened for another lane count have the wrong thread share.
        let own = (cpu && n > 1).then_some(threads);
        if lanes.first().is_some_and(|l| l.threads != own) {
            lanes.clear();
        }
        // Opening sessions is mostly graph optimisation on the CPU: the lanes open side by side.
        while lanes.len() < n {
            // One lane on the CPU takes every core, as the codec's own sessions do.
            let vae = match own {
                Some(threads) => {
                    let options = self.vae.options().clone().with_threads(threads);
                    Arc::new(self.vae.reopen(&options))
                }
                None => self.vae.clone(),
            };
            let world = Mutex::new(self.new_world()?);
            lanes.push(Arc::new(Lane {
                vae,
                world,
                threads: own,
            }));
        }
        Ok(lanes[..n].to_vec())
    }

    /// Compresses every item of `items` in a pipeline (see [`Pipeline`]): `load`
    /// turns an item into an image on the loader's threads (several at once), the lanes code
    /// batches side by side, and `sink` is called on the caller's thread with each batch's
    /// items and their streams, in the order of `items`. One result per item; a failed load
    /// or image fails alone.
    ///
    /// ```no_run
    /// use vaerans::prelude::*;
    /// use vaerans::Pipeline;
    /// # fn main() -> vaerans::Result<()> {
    /// let codec = Codec::builder().quality(75).build()?;
    /// let files = vec!["a.png", "b.png", "c.jpg"];
    /// let load = |path: &&str| -> vaerans::Result<image::RgbImage> {
    ///     Ok(image::open(path).map_err(|e| Error::Image(e.to_string()))?.to_rgb8())
    /// };
    /// let report = codec.compress_each(files, load, Pipeline::default(), |batch| {
    ///     for (path, stream) in batch {
    ///         match stream {
    ///             Ok(bytes) => println!("{path}: {} bytes", bytes.len()),
    ///             Err(e) => eprintln!("{path}: {e}"),
    ///         }
    ///     }
    /// })?;
    /// println!("{} images in {:?}", report.items, report.elapsed);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Errors: only when the lanes cannot be opened; everything else is per item.
    pub fn compress_each<I, T, L, S>(
        &self,
        items: I,
        load: L,
        plan: Pipeline,
        sink: S,
    ) -> Result<PipelineReport>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send,
        T: Send + Sync,
        L: Fn(&T) -> Result<RgbImage> + Sync,
        S: FnMut(Vec<(T, Result<Vec<u8>>)>),
    {
        let items = items.into_iter();
        let (batch, n) = plan.plan(&self.vae, &items);
        let lanes = self.lanes(n)?;
        let work = |lane: usize, loaded: Vec<Result<RgbImage>>| {
            let lane = &lanes[lane];
            let raws: Vec<RawImage<'_>> = loaded
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .map(RawImage::from)
                .collect();
            let streams = self.compress_on(&mut lane.world(), &lane.vae, &raws);
            refill(&loaded, streams)
        };
        Ok(run(items, batch, n, load, work, sink))
    }

    /// Decompresses every item of `items` in a pipeline, as
    /// [`compress_each`](Self::compress_each) compresses: `load` gives an item's stream bytes
    /// (parsed and checked against the codec's [`Limits`](crate::Limits) on the loader's
    /// threads), `sink` gets each batch's items and images, in order.
    ///
    /// Errors: only when the lanes cannot be opened; everything else is per item.
    pub fn decompress_each<I, T, L, S>(
        &self,
        items: I,
        load: L,
        plan: Pipeline,
        sink: S,
    ) -> Result<PipelineReport>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send,
        T: Send + Sync,
        L: Fn(&T) -> Result<Vec<u8>> + Sync,
        S: FnMut(Vec<(T, Result<RgbImage>)>),
    {
        let items = items.into_iter();
        let (batch, n) = plan.plan(&self.vae, &items);
        let lanes = self.lanes(n)?;
        let limits = &self.limits;
        let parse = |item: &T| AnsBitstream::parse(load(item)?, limits);
        let work = |lane: usize, streams: Vec<Result<AnsBitstream>>| {
            let lane = &lanes[lane];
            self.decompress_on(&mut lane.world(), &lane.vae, streams)
        };
        Ok(run(items, batch, n, parse, work, sink))
    }

    /// Decodes parsed streams in lane `lane` of `n`, for [`Decoders`](super::Decoders), whose
    /// codecs are opened as streams name them, lanes and all.
    pub(super) fn decompress_lane(
        &self,
        lane: usize,
        n: usize,
        streams: Vec<Result<AnsBitstream>>,
    ) -> Vec<Result<RgbImage>> {
        match self.lanes(n) {
            Ok(lanes) => {
                let lane = &lanes[lane.min(n - 1)];
                self.decompress_on(&mut lane.world(), &lane.vae, streams)
            }
            Err(e) => streams.iter().map(|_| Err(e.clone())).collect(),
        }
    }
}

impl Pipeline {
    /// The batch size and lane count of a run of `vae` over `items`: [`resolve`](Self::resolve)'s,
    /// with no more lanes than there are batches when the iterator knows its length (each CPU
    /// lane opens its own sessions).
    pub(super) fn plan(&self, vae: &Vae, items: &impl Iterator) -> (usize, usize) {
        let (batch, lanes) = self.resolve(vae);
        let lanes = match items.size_hint().1 {
            Some(n) => lanes.min(n.div_ceil(batch)).max(1),
            None => lanes,
        };
        (batch, lanes)
    }
}

/// One result per loaded item: a failed load keeps its error, the others take the coded results
/// in order.
fn refill<In, Out>(loaded: &[Result<In>], coded: Vec<Result<Out>>) -> Vec<Result<Out>> {
    let mut coded = coded.into_iter();
    loaded
        .iter()
        .map(|r| match r {
            Ok(_) => coded.next().unwrap_or_else(|| {
                Err(Error::Internal(
                    "the codec returned fewer results than images".into(),
                ))
            }),
            Err(e) => Err(e.clone()),
        })
        .collect()
}

/// A batch on its way: its number, its items, and their loads or results.
type Job<T, V> = (usize, Vec<T>, Vec<Result<V>>);

/// Runs the pipeline: `load` on the loader (a batch's items in parallel), `work(lane, batch)`
/// on `lanes` threads, `sink` on this thread in item order.
///
/// Invariant: at most `lanes + 2` batches are in flight. The loader takes a token before it
/// loads a batch and the sink returns it once the batch is written, so a slow batch holding up
/// the order cannot let the others pile up behind it.
pub(super) fn run<T, In, Out, L, W, S>(
    items: impl Iterator<Item = T> + Send,
    batch: usize,
    lanes: usize,
    load: L,
    work: W,
    mut sink: S,
) -> PipelineReport
where
    T: Send + Sync,
    In: Send,
    Out: Send,
    L: Fn(&T) -> Result<In> + Sync,
    W: Fn(usize, Vec<Result<In>>) -> Vec<Result<Out>> + Sync,
    S: FnMut(Vec<(T, Result<Out>)>),
{
    let start = Instant::now();
    let (batch, lanes) = (batch.max(1), lanes.max(1));
    let in_flight = lanes + 2;
    let (token_tx, token_rx) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        // Cannot fail: the channel has room for every token and its receiver is alive.
        let _ = token_tx.send(());
    }
    let (job_tx, job_rx) = sync_channel::<Job<T, In>>(1);
    // Shared by the lanes and dropped with the last of them, so a loader whose lanes are gone
    // stops instead of waiting on a full queue.
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = sync_channel::<(Job<T, Out>, Duration)>(lanes);
    let mut report = PipelineReport {
        batch,
        lanes,
        ..PipelineReport::default()
    };
    let loading = std::thread::scope(|scope| {
        // Owned here, so if the sink panics the loader waiting for a token is released.
        let token_tx = token_tx;
        let load = &load;
        let loader = scope.spawn(move || {
            let mut items = items;
            let mut spent = Duration::ZERO;
            for seq in 0.. {
                if token_rx.recv().is_err() {
                    break;
                }
                let chunk: Vec<T> = items.by_ref().take(batch).collect();
                if chunk.is_empty() {
                    break;
                }
                let t = Instant::now();
                let loaded: Vec<Result<In>> = chunk.par_iter().map(load).collect();
                spent += t.elapsed();
                if job_tx.send((seq, chunk, loaded)).is_err() {
                    break;
                }
            }
            spent
        });
        for lane in 0..lanes {
            let (job_rx, done_tx, work) = (job_rx.clone(), done_tx.clone(), &work);
            scope.spawn(move || loop {
                let job = job_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok((seq, items, loaded)) = job else {
                    break;
                };
                let t = Instant::now();
                let results = work(lane, loaded);
                if done_tx.send(((seq, items, results), t.elapsed())).is_err() {
                    break;
                }
            });
        }
        drop((done_tx, job_rx));
        let mut waiting = BTreeMap::new();
        let mut next = 0;
        for ((seq, items, results), coding) in done_rx {
            report.coding += coding;
            waiting.insert(seq, (items, results));
            while let Some((items, results)) = waiting.remove(&next) {
                let n = items.len();
                let mut results = results.into_iter();
                let batch: Vec<(T, Result<Out>)> = items
                    .into_iter()
                    .map(|item| {
                        let r = results.next().unwrap_or_else(|| {
                            Err(Error::Internal("a lane returned too few results".into()))
                        });
                        (item, r)
                    })
                    .collect();
                let t = Instant::now();
                sink(batch);
                report.sinking += t.elapsed();
                report.items += n;
                report.batches += 1;
                next += 1;
                // The loader may have finished and dropped its receiver; then nobody needs it.
                let _ = token_tx.send(());
            }
        }
        loader.join().unwrap_or_default()
    });
    report.loading = loading;
    report.elapsed = start.elapsed();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Items come back in order, each with its own result, however the lanes finish; a failed
    /// load fails alone; no more than `lanes + 2` batches are ever in flight.
    #[test]
    fn the_pipeline_keeps_order_and_bounds_what_is_in_flight() {
        let live = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let load = |&i: &usize| -> Result<usize> {
            let now = live.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            if i % 7 == 3 {
                return Err(Error::InvalidInput(format!("item {i}")));
            }
            Ok(i * 10)
        };
        let work = |lane: usize, batch: Vec<Result<usize>>| {
            // Lane 0 is slow, so batches finish out of order.
            if lane == 0 {
                std::thread::sleep(Duration::from_millis(3));
            }
            batch.into_iter().map(|r| r.map(|v| v + 1)).collect()
        };
        let mut seen = Vec::new();
        let report = run(0..100usize, 3, 3, load, work, |batch| {
            live.fetch_sub(batch.len(), Ordering::SeqCst);
            seen.extend(batch);
        });
        assert_eq!(report.items, 100);
        assert_eq!(report.batches, 34);
        for (want, (i, r)) in seen.iter().enumerate() {
            assert_eq!(*i, want);
            match r {
                Ok(v) => assert_eq!(*v, i * 10 + 1),
                Err(e) => {
                    assert_eq!(i % 7, 3);
                    assert!(e.to_string().contains(&format!("item {i}")), "{e}");
                }
            }
        }
        assert!(
            peak.load(Ordering::SeqCst) <= (3 + 2) * 3,
            "{} items were in flight",
            peak.load(Ordering::SeqCst)
        );
    }

    #[test]
    fn an_empty_run_calls_no_sink() {
        let report = run(
            std::iter::empty::<u8>(),
            4,
            2,
            |_: &u8| Ok(()),
            |_, b: Vec<Result<()>>| b,
            |_: Vec<(u8, Result<()>)>| panic!("no batch"),
        );
        assert_eq!((report.items, report.batches), (0, 0));
    }
}
