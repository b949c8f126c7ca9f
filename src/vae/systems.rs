//! The VAE's systems: `Rgb → Latent + SourceInfo` and `Latent + SourceInfo → ReconRgb`, over
//! batches grouped by shape, at most [`Vae::max_batch`] images per session call.

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;

use super::model::Vae;
use super::pixels::{planar_to_rgb, rgb_to_planar, rgb_window_to_planar, to_rgb8};
use super::tiles::Grid;
use crate::components::{Latent, ModelId, ReconRgb, Rgb, SourceInfo};
use crate::error::{Error, Result};
use crate::{
    ComponentId, DType, Device, Direction, Entity, EntityShape, Footprint, Location, System,
    TensorRef, World,
};

/// An entity of an encode group with its original width and height.
type Member = (Entity, u32, u32);

/// Encoding system: `Rgb → Latent + SourceInfo` (the model's identity goes into `SourceInfo`).
#[derive(Debug, Clone)]
pub struct VaeEncode {
    vae: Arc<Vae>,
}

/// Decoding system: `Latent + SourceInfo → ReconRgb`; a stream made by another model is that
/// entity's failure ([`Error::ModelMismatch`]).
#[derive(Debug, Clone)]
pub struct VaeDecode {
    vae: Arc<Vae>,
}

impl VaeEncode {
    /// The encoder of `vae`.
    pub fn new(vae: Arc<Vae>) -> Self {
        Self { vae }
    }
}

impl VaeDecode {
    /// The decoder of `vae`.
    pub fn new(vae: Arc<Vae>) -> Self {
        Self { vae }
    }
}

impl System for VaeEncode {
    fn name(&self) -> &'static str {
        "VaeEncode"
    }
    fn direction(&self) -> Direction {
        Direction::Forward
    }
    fn required(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<Rgb>()]
    }
    fn produced(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<Latent>(), ComponentId::of::<SourceInfo>()]
    }

    /// The f32 latent, on the host.
    fn footprint(&self, shape: &EntityShape, _: Device, _: Location) -> Footprint {
        Footprint::host(&[4 * shape.latent_len()])
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        let vae = &*self.vae;
        // Group by padded size; BTreeMap keeps the order deterministic.
        let mut groups: BTreeMap<(u32, u32), Vec<Member>> = BTreeMap::new();
        for &e in entities {
            let shape = match world.get::<Rgb>(e) {
                Ok(rgb) => rgb_shape(&rgb.tensor),
                Err(err) => Err(err),
            };
            match shape {
                Ok((w, h)) => groups
                    .entry(vae.padded_size(w, h))
                    .or_default()
                    .push((e, w, h)),
                Err(err) => world.record_failure(e, err),
            }
        }
        let f = vae.downsample();
        let c = vae.latent_channels();
        let range = vae.spec().input_range;
        for ((pw, ph), members) in groups {
            let (pw, ph) = (pw as usize, ph as usize);
            if let Some(grid) = vae.grid(pw, ph) {
                // Too large for one call: each image alone, tile by tile.
                for (e, iw, ih) in members {
                    let job = (|| {
                        let w = &*world;
                        let rgb = w.arena().view::<u8>(&w.get::<Rgb>(e)?.tensor)?;
                        encode_tiled(vae, &grid, rgb, iw as usize, ih as usize)
                    })();
                    match job {
                        Ok(lat) => insert_latent(world, vae, e, &lat, (iw, ih), (pw, ph))?,
                        Err(err) => world.record_failure(e, err),
                    }
                }
                continue;
            }
            for chunk in members.chunks(vae.max_batch()) {
                let n = chunk.len();
                let mut x = vec![0f32; n * 3 * pw * ph];
                {
                    let w = &*world;
                    let views: Vec<&[u8]> = chunk
                        .iter()
                        .map(|(e, _, _)| w.arena().view::<u8>(&w.get::<Rgb>(*e)?.tensor))
                        .collect::<Result<_>>()?;
                    x.par_chunks_mut(3 * pw * ph)
                        .zip(views.par_iter().zip(chunk.par_iter()))
                        .for_each(|(out, (rgb, (_, iw, ih)))| {
                            rgb_to_planar(rgb, *iw as usize, *ih as usize, pw, ph, range, out)
                        });
                }
                let z = match vae.encode_nchw(&x, n, ph, pw) {
                    Ok(z) => z,
                    Err(err) => {
                        // A failed session call fails the images it held, not the batch.
                        for (e, _, _) in chunk {
                            world.record_failure(*e, err.clone());
                        }
                        continue;
                    }
                };
                let plane = c * (ph / f) * (pw / f);
                for (&(e, iw, ih), lat) in chunk.iter().zip(z.chunks_exact(plane)) {
                    insert_latent(world, vae, e, lat, (iw, ih), (pw, ph))?;
                }
            }
        }
        Ok(())
    }
}

/// Stores an encoded latent with where it came from.
fn insert_latent(
    world: &mut World,
    vae: &Vae,
    e: Entity,
    lat: &[f32],
    (width, height): (u32, u32),
    (pw, ph): (usize, usize),
) -> Result<()> {
    let f = vae.downsample();
    let shape = [vae.latent_channels(), ph / f, pw / f];
    vae.check_latent(lat);
    let tensor = world.arena_mut().alloc_from(&shape, lat)?;
    world.insert(e, Latent { tensor })?;
    world.insert(
        e,
        SourceInfo {
            width,
            height,
            padded_width: pw as u32,
            padded_height: ph as u32,
            model: vae.id().clone(),
            input_range: Some(vae.spec().input_range),
            // Config checks keep it in 1..=64.
            downsample: f as u8,
        },
    )
}

/// Encodes one image tile by tile, one tile per session call, and blends the tiles'
/// latents across their overlaps. Returns the `C × lh × lw` latent of the padded image.
fn encode_tiled(vae: &Vae, grid: &Grid, rgb: &[u8], iw: usize, ih: usize) -> Result<Vec<f32>> {
    let (f, c) = (vae.downsample(), vae.latent_channels());
    let range = vae.spec().input_range;
    let (lh, lw) = (grid.y.extent(), grid.x.extent());
    let (ty, tx) = (grid.y.tile(), grid.x.tile());
    let mut acc = vec![0f32; c * lh * lw];
    let mut x = vec![0f32; 3 * ty * f * tx * f];
    for (r, col, y0, x0) in grid.tiles() {
        rgb_window_to_planar(rgb, iw, ih, [x0 * f, y0 * f], tx * f, ty * f, range, &mut x);
        let z = vae.encode_nchw(&x, 1, ty * f, tx * f)?;
        let (wy, wx) = (grid.y.weights(r, 1), grid.x.weights(col, 1));
        for (plane, tile) in acc.chunks_exact_mut(lh * lw).zip(z.chunks_exact(ty * tx)) {
            for (y, (row, wy)) in tile.chunks_exact(tx).zip(&wy).enumerate() {
                let out = &mut plane[(y0 + y) * lw + x0..][..tx];
                for ((o, v), wx) in out.iter_mut().zip(row).zip(&wx) {
                    *o += v * wy * wx;
                }
            }
        }
    }
    let (sy, sx) = (grid.y.totals(1), grid.x.totals(1));
    for plane in acc.chunks_exact_mut(lh * lw) {
        for (row, sy) in plane.chunks_exact_mut(lw).zip(&sy) {
            for (v, sx) in row.iter_mut().zip(&sx) {
                *v /= sy * sx;
            }
        }
    }
    Ok(acc)
}

/// Decodes one latent tile by tile, one tile per session call, blending the tiles' pixels
/// across their overlaps into `out` (the `height × width` RGB8 image). Only one row of tiles
/// is held in f32 at a time: rows no later tile touches are written out and dropped.
fn decode_tiled(
    vae: &Vae,
    grid: &Grid,
    z: &[f32],
    (width, height): (usize, usize),
    out: &mut [u8],
) -> Result<()> {
    let (f, c) = (vae.downsample(), vae.latent_channels());
    let to_u8 = to_rgb8(vae.spec().input_range);
    let (lh, lw) = (grid.y.extent(), grid.x.extent());
    let (ty, tx) = (grid.y.tile(), grid.x.tile());
    let (th, tw, pw) = (ty * f, tx * f, lw * f);
    let (sy, sx) = (grid.y.totals(f), grid.x.totals(f));
    // Rows `first..first + band.len() / (3 · pw)` of the padded image, interleaved RGB.
    let mut band: Vec<f32> = Vec::new();
    let mut first = 0;
    let mut zt = vec![0f32; c * ty * tx];
    for (r, &y0) in grid.y.starts().iter().enumerate() {
        let (py0, wy) = (y0 * f, grid.y.weights(r, f));
        band.resize((py0 + th - first) * pw * 3, 0.0);
        for (col, &x0) in grid.x.starts().iter().enumerate() {
            for (dst, src) in zt.chunks_exact_mut(ty * tx).zip(z.chunks_exact(lh * lw)) {
                for (y, row) in dst.chunks_exact_mut(tx).enumerate() {
                    row.copy_from_slice(&src[(y0 + y) * lw + x0..][..tx]);
                }
            }
            let img = vae.decode_nchw(&zt, 1, ty, tx)?;
            let wx = grid.x.weights(col, f);
            for (ch, plane) in img.chunks_exact(th * tw).enumerate() {
                for (y, (row, wy)) in plane.chunks_exact(tw).zip(&wy).enumerate() {
                    let at = ((py0 - first + y) * pw + x0 * f) * 3 + ch;
                    for ((v, wx), o) in row.iter().zip(&wx).zip(band[at..].iter_mut().step_by(3)) {
                        *o += v * wy * wx;
                    }
                }
            }
        }
        // Rows above the next row of tiles are final.
        let done = grid
            .y
            .starts()
            .get(r + 1)
            .map_or(first + band.len() / (3 * pw), |s| s * f);
        for (y, row) in (first..done).zip(band.chunks_exact(3 * pw)) {
            if y >= height {
                break;
            }
            let dst = &mut out[y * width * 3..][..width * 3];
            for ((px, src), sx) in dst.chunks_exact_mut(3).zip(row.chunks_exact(3)).zip(&sx) {
                for (o, v) in px.iter_mut().zip(src) {
                    *o = to_u8(v / (sy[y] * sx));
                }
            }
        }
        band.drain(..(done - first) * pw * 3);
        first = done;
    }
    Ok(())
}

fn rgb_shape(t: &TensorRef) -> Result<(u32, u32)> {
    match *t.shape() {
        [h, w, 3] if h > 0 && w > 0 && t.dtype() == DType::U8 => {
            let to = |v: usize| {
                u32::try_from(v)
                    .map_err(|_| Error::InvalidInput(format!("image side {v} is too large")))
            };
            Ok((to(w)?, to(h)?))
        }
        _ => Err(Error::InvalidInput(format!(
            "Rgb must be a non-empty u8 [H, W, 3] tensor, got {:?} {:?}",
            t.dtype(),
            t.shape()
        ))),
    }
}

impl System for VaeDecode {
    fn name(&self) -> &'static str {
        "VaeDecode"
    }
    fn direction(&self) -> Direction {
        Direction::Inverse
    }
    fn required(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<Latent>(), ComponentId::of::<SourceInfo>()]
    }
    fn produced(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<ReconRgb>()]
    }

    /// The RGB8 image, on the host; a latent on the GPU is first read back to the host.
    fn footprint(&self, shape: &EntityShape, _: Device, input: Location) -> Footprint {
        let image = Footprint::host(&[3 * shape.pixels()]);
        match input {
            Location::Gpu => Footprint::host(&[4 * shape.latent_len()]).then(image),
            Location::Cpu => image,
        }
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        let vae = &*self.vae;
        let f = vae.downsample();
        let c = vae.latent_channels();
        let range = vae.spec().input_range;
        // Latents decoded on a GPU come home in one readback for the whole batch.
        world.component_tensors_to_host::<Latent>(
            entities,
            |l| l.tensor,
            |_, tensor| Latent { tensor },
        )?;
        let mut groups: BTreeMap<(usize, usize), Vec<(Entity, SourceInfo)>> = BTreeMap::new();
        for &e in entities {
            let job = (|| {
                let latent = world.get::<Latent>(e)?.tensor;
                let info = world.get::<SourceInfo>(e)?.clone();
                check_model(&info.model, vae.id())?;
                check_source(&info, vae)?;
                let [lc, lh, lw] = *latent.shape() else {
                    return Err(Error::InvalidInput(format!(
                        "Latent must be [C, h, w], got {:?}",
                        latent.shape()
                    )));
                };
                let (pw, ph) = (info.padded_width as usize, info.padded_height as usize);
                if lc != c || lh * f != ph || lw * f != pw {
                    return Err(Error::Corrupt(format!(
                        "latent {lc}×{lh}×{lw} does not match a {pw}×{ph} image for a {c}-channel, \
                         /{f} model"
                    )));
                }
                if info.width == 0
                    || info.height == 0
                    || info.width as usize > pw
                    || info.height as usize > ph
                {
                    return Err(Error::Corrupt(format!(
                        "image size {}×{} does not fit its padded size {pw}×{ph}",
                        info.width, info.height
                    )));
                }
                Ok((lh, lw, info))
            })();
            match job {
                Ok((lh, lw, info)) => groups.entry((lh, lw)).or_default().push((e, info)),
                Err(err) => world.record_failure(e, err),
            }
        }
        for ((lh, lw), members) in groups {
            let (ph, pw) = (lh * f, lw * f);
            if let Some(grid) = vae.grid(pw, ph) {
                for (e, info) in members {
                    let size = (info.width as usize, info.height as usize);
                    let tensor = world.arena_mut().alloc(DType::U8, &[size.1, size.0, 3])?;
                    let job = (|| {
                        let latent = world.get::<Latent>(e)?.tensor;
                        let (views, mut outs) = world
                            .arena_mut()
                            .batch_views::<f32, u8>(&[latent], &[tensor])?;
                        decode_tiled(vae, &grid, views[0], size, outs[0])
                    })();
                    match job {
                        Ok(()) => world.insert(e, ReconRgb { tensor })?,
                        Err(err) => world.record_failure(e, err),
                    }
                }
                continue;
            }
            for chunk in members.chunks(vae.max_batch()) {
                let n = chunk.len();
                let mut z = Vec::with_capacity(n * c * lh * lw);
                for (e, _) in chunk {
                    z.extend_from_slice(
                        world
                            .arena()
                            .view::<f32>(&world.get::<Latent>(*e)?.tensor)?,
                    );
                }
                let x = match vae.decode_nchw(&z, n, lh, lw) {
                    Ok(x) => x,
                    Err(err) => {
                        for (e, _) in chunk {
                            world.record_failure(*e, err.clone());
                        }
                        continue;
                    }
                };
                let mut outs = Vec::with_capacity(n);
                for (_, info) in chunk {
                    let (w, h) = (info.width as usize, info.height as usize);
                    outs.push(world.arena_mut().alloc(DType::U8, &[h, w, 3])?);
                }
                {
                    let (_, mut views) = world.arena_mut().batch_views::<u8, u8>(&[], &outs)?;
                    views
                        .par_iter_mut()
                        .zip(x.par_chunks_exact(3 * ph * pw))
                        .zip(chunk.par_iter())
                        .for_each(|((out, img), (_, info))| {
                            planar_to_rgb(
                                img,
                                pw,
                                ph,
                                info.width as usize,
                                info.height as usize,
                                range,
                                out,
                            )
                        });
                }
                for ((e, _), tensor) in chunk.iter().zip(outs) {
                    world.insert(*e, ReconRgb { tensor })?;
                }
            }
        }
        Ok(())
    }
}

/// A stream's model must be the decoder's model: the same decoder file (its SHA-256). The
/// name is informative: the same decoder under another name decodes, with a warning.
pub fn check_model(stream: &ModelId, ours: &ModelId) -> Result<()> {
    if stream == ours {
        return Ok(());
    }
    if stream.decoder_hash == ours.decoder_hash && ours.decoder_hash != [0; 32] {
        if stream.name != ours.name {
            tracing::warn!(
                "the stream names model `{}`, decoded with `{}`: the same decoder file",
                stream.name.escape_debug(),
                ours.name
            );
        }
        return Ok(());
    }
    let describe = |m: &ModelId| {
        if m.name.is_empty() && m.decoder_hash == [0; 32] {
            "no model (a bare latent stream)".to_string()
        } else {
            format!("`{}` (decoder sha256 {})", m.name, hex8(&m.decoder_hash))
        }
    };
    Err(Error::ModelMismatch {
        stream: describe(stream),
        decoder: describe(ours),
    })
}

/// What a stream records of how its latent was made must match the decoding model: the input
/// range (a decoder mapping its output with another range would give wrong colours) and the
/// downsample factor. Streams that record neither (format 1) pass.
pub fn check_source(info: &SourceInfo, vae: &Vae) -> Result<()> {
    let spec = vae.spec();
    if let Some(r) = info.input_range.filter(|r| *r != spec.input_range) {
        return Err(Error::Model(format!(
            "the stream was made with input range [{}, {}], but model `{}` is configured with \
             [{}, {}]; decode with the stream's range (the config's `input_range`)",
            r[0], r[1], spec.name, spec.input_range[0], spec.input_range[1]
        )));
    }
    if info.downsample != 0 && usize::from(info.downsample) != spec.downsample {
        return Err(Error::Model(format!(
            "the stream was made with downsample {}, but model `{}` is configured with {}; \
             fix the config's `downsample`",
            info.downsample, spec.name, spec.downsample
        )));
    }
    Ok(())
}

/// The first 8 bytes of a hash in hex, enough to tell files apart in messages.
pub(crate) fn hex8(hash: &[u8; 32]) -> String {
    super::calibrate::hex(hash)[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_names_both_models() {
        let a = ModelId {
            name: "a".into(),
            decoder_hash: [1; 32],
        };
        let b = ModelId {
            name: "b".into(),
            decoder_hash: [2; 32],
        };
        let msg = check_model(&a, &b).unwrap_err().to_string();
        assert!(msg.contains("`a`") && msg.contains("`b`"), "{msg}");
        assert!(check_model(&a, &a).is_ok());
        // The decoder file is the identity: another name for it decodes.
        let renamed = ModelId {
            name: "renamed".into(),
            ..a.clone()
        };
        assert!(check_model(&a, &renamed).is_ok());
    }
}
