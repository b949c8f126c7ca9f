//! The residual layer's systems: the blur, the residual and its sum, and the layers' joining.

use super::blur;
use super::colour;
use super::settings::{PLANES, UNIT};
use crate::bitstream::{AnsBitstream, Enhancement};
use crate::components::{BlurRgb, Latent, ReconRgb, Residual, Rgb, SourceInfo};
use crate::core::system::{map_tensors, prepare_each, two_way_system};
use crate::error::{Error, Result};
use crate::{
    ComponentId, DType, Device, Direction, Entity, EntityShape, Footprint, Location, System,
    TensorRef, World,
};

/// The entity's `[H, W, 3]` u8 image tensor of component `T`, checked.
fn image_of(t: TensorRef, what: &str) -> Result<[usize; 2]> {
    t.expect::<u8>()?;
    match *t.shape() {
        [h, w, 3] => Ok([h, w]),
        ref s => Err(Error::InvalidInput(format!(
            "{what} must be [H, W, 3], got {s:?}"
        ))),
    }
}

/// Blurs the decoder's base image: `ReconRgb → BlurRgb` (σ = code / 8 pixels; code 0 copies).
/// The encoder and the decoder run it alike, so the prediction is the same on both sides.
#[derive(Debug, Clone, Copy)]
pub struct GaussianBlur {
    code: u8,
}

impl GaussianBlur {
    /// The blur of σ code `code` (checked: at most [`blur::MAX_SIGMA_CODE`]).
    pub fn new(code: u8) -> Result<Self> {
        Ok(Self {
            code: blur::check_sigma_code(code)?,
        })
    }
}

impl System for GaussianBlur {
    fn name(&self) -> &'static str {
        "gaussian-blur"
    }
    fn direction(&self) -> Direction {
        Direction::Forward
    }
    fn required(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<ReconRgb>()]
    }
    fn produced(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<BlurRgb>()]
    }
    fn footprint(&self, shape: &EntityShape, _: Device, _: Location) -> Footprint {
        Footprint::host(&[3 * shape.pixels()])
    }
    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        let code = self.code;
        let done = map_tensors::<u8, u8, [usize; 2], (), _, _>(
            world,
            entities,
            |w, e| {
                let t = w.get::<ReconRgb>(e)?.tensor;
                let [h, wd] = image_of(t, "ReconRgb")?;
                Ok((t, vec![h, wd, 3], [h, wd]))
            },
            |src, out, _, &[h, w]| {
                blur::blur_rgb(src, w, h, code, out);
                Ok(())
            },
        )?;
        for (e, tensor, _, ()) in done {
            world.insert(e, BlurRgb { tensor })?;
        }
        Ok(())
    }
}

/// What the residual is predicted from: the base image as decoded, or blurred.
fn prediction(world: &World, e: Entity, blurred: bool) -> Result<TensorRef> {
    Ok(if blurred {
        world.get::<BlurRgb>(e)?.tensor
    } else {
        world.get::<ReconRgb>(e)?.tensor
    })
}

fn prediction_id(blurred: bool) -> ComponentId {
    if blurred {
        ComponentId::of::<BlurRgb>()
    } else {
        ComponentId::of::<ReconRgb>()
    }
}

/// `Rgb − prediction → Residual`: the original minus the decoder's base image (or its blur,
/// `BlurRgb`), in YCoCg and units of [`UNIT`] pixel levels, as `[4, H, W]` planes. The same
/// tensor becomes the entity's `Latent`, for the residual's latent chain to code next, and the
/// entity's `SourceInfo` (the base's) is taken off: the residual's stream records its own size.
#[derive(Debug, Clone, Copy)]
pub struct ResidualCompute {
    blurred: bool,
}

impl ResidualCompute {
    /// Predicting from `ReconRgb` (`blurred == false`) or from `BlurRgb`.
    pub fn new(blurred: bool) -> Self {
        Self { blurred }
    }
}

impl System for ResidualCompute {
    fn name(&self) -> &'static str {
        "residual"
    }
    fn direction(&self) -> Direction {
        Direction::Forward
    }
    fn required(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<Rgb>(), prediction_id(self.blurred)]
    }
    fn produced(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<Residual>(), ComponentId::of::<Latent>()]
    }
    fn footprint(&self, shape: &EntityShape, _: Device, _: Location) -> Footprint {
        Footprint::host(&[4 * PLANES * shape.pixels()])
    }
    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        use rayon::prelude::*;
        let jobs = prepare_each(world, entities, |w, e| {
            let rgb = w.get::<Rgb>(e)?.tensor;
            let pred = prediction(w, e, self.blurred)?;
            let size = image_of(rgb, "Rgb")?;
            if image_of(pred, "the prediction")? != size {
                return Err(Error::InvalidInput(format!(
                    "the base image is {:?}, the original {:?}",
                    pred.shape(),
                    rgb.shape()
                )));
            }
            Ok((rgb, pred, size))
        });
        let mut outputs = Vec::with_capacity(jobs.len());
        for (_, (_, _, [h, w])) in &jobs {
            outputs.push(world.arena_mut().alloc(DType::F32, &[PLANES, *h, *w])?);
        }
        let inputs: Vec<TensorRef> = jobs.iter().flat_map(|(_, (a, b, _))| [*a, *b]).collect();
        {
            let (ins, mut outs) = world
                .arena_mut()
                .batch_views::<u8, f32>(&inputs, &outputs)?;
            ins.par_chunks(2)
                .zip(outs.par_iter_mut())
                .for_each(|(pair, planes)| residual_planes(pair[0], pair[1], planes));
        }
        for ((e, _), tensor) in jobs.into_iter().zip(outputs) {
            world.insert(e, Residual { tensor })?;
            world.insert(e, Latent { tensor })?;
            world.remove::<SourceInfo>(e)?;
        }
        Ok(())
    }
}

/// The residual planes of `original − prediction` (both RGB8 of `n` pixels) into `planes`
/// (`4n`: Y, Co, Cg, zeros).
fn residual_planes(original: &[u8], prediction: &[u8], planes: &mut [f32]) {
    let n = original.len() / 3;
    let (ycc, zero) = planes.split_at_mut(3 * n);
    zero.fill(0.0);
    let (y, rest) = ycc.split_at_mut(n);
    let (co, cg) = rest.split_at_mut(n);
    for (i, (o, p)) in original
        .chunks_exact(3)
        .zip(prediction.chunks_exact(3))
        .enumerate()
    {
        let d = |c: usize| (f32::from(o[c]) - f32::from(p[c])) / UNIT;
        let [a, b, c] = colour::forward([d(0), d(1), d(2)]);
        (y[i], co[i], cg[i]) = (a, b, c);
    }
}

/// `prediction + Latent → ReconRgb`: the decoded residual planes (the residual's latent chain
/// output, `[4, H, W]`) added to the base image (or its blur), rounded and clamped to RGB8.
#[derive(Debug, Clone, Copy)]
pub struct ResidualAdd {
    blurred: bool,
}

impl ResidualAdd {
    /// Adding to `ReconRgb` (`blurred == false`) or to `BlurRgb`.
    pub fn new(blurred: bool) -> Self {
        Self { blurred }
    }
}

impl System for ResidualAdd {
    fn name(&self) -> &'static str {
        "residual⁻¹"
    }
    fn direction(&self) -> Direction {
        Direction::Inverse
    }
    fn required(&self) -> Vec<ComponentId> {
        vec![prediction_id(self.blurred), ComponentId::of::<Latent>()]
    }
    fn produced(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<ReconRgb>()]
    }
    fn footprint(&self, shape: &EntityShape, _: Device, input: Location) -> Footprint {
        let image = Footprint::host(&[3 * shape.pixels()]);
        match input {
            Location::Gpu => Footprint::host(&[4 * shape.latent_len()]).then(image),
            Location::Cpu => image,
        }
    }
    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        // Planes decoded on a GPU come home in one readback for the batch.
        world.component_tensors_to_host::<Latent>(
            entities,
            |l| l.tensor,
            |_, tensor| Latent { tensor },
        )?;
        let done = map_tensors::<f32, u8, Vec<u8>, (), _, _>(
            world,
            entities,
            |w, e| {
                let planes = w.get::<Latent>(e)?.tensor;
                let pred = prediction(w, e, self.blurred)?;
                let [h, wd] = image_of(pred, "the prediction")?;
                planes.expect::<f32>()?;
                if planes.shape() != [PLANES, h, wd] {
                    return Err(Error::Corrupt(format!(
                        "the residual is {:?}, the image needs [{PLANES}, {h}, {wd}]",
                        planes.shape()
                    )));
                }
                let base = w.arena().to_vec::<u8>(&pred)?;
                Ok((planes, vec![h, wd, 3], base))
            },
            |planes, out, _, base| {
                add_planes(base, planes, out);
                Ok(())
            },
        )?;
        for (e, tensor, _, ()) in done {
            world.insert(e, ReconRgb { tensor })?;
        }
        Ok(())
    }
}

/// `prediction + planes` back to RGB8 into `out`: the inverse of [`residual_planes`].
fn add_planes(prediction: &[u8], planes: &[f32], out: &mut [u8]) {
    let n = prediction.len() / 3;
    let (y, rest) = planes.split_at(n);
    let (co, rest) = rest.split_at(n);
    let cg = &rest[..n];
    for (i, (p, o)) in prediction
        .chunks_exact(3)
        .zip(out.chunks_exact_mut(3))
        .enumerate()
    {
        let d = colour::inverse([y[i], co[i], cg[i]]);
        for c in 0..3 {
            o[c] = (f32::from(p[c]) + d[c] * UNIT).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// The residual's stream as an enhancement layer: `AnsBitstream → Enhancement`, the residual
/// latent chain's stream with the blur its prediction used. The base's stream, kept aside
/// with the pipe's `select::<AnsBitstream>()`, comes back with `use_` for [`JoinLayers`].
#[derive(Debug, Clone, Copy)]
pub struct EnhancementLayer {
    blur: u8,
}

impl EnhancementLayer {
    /// A layer predicted from the base blurred with σ code `blur` (0: none).
    pub fn new(blur: u8) -> Result<Self> {
        Ok(Self {
            blur: blur::check_sigma_code(blur)?,
        })
    }
}

impl System for EnhancementLayer {
    fn name(&self) -> &'static str {
        "enhancement"
    }
    fn direction(&self) -> Direction {
        Direction::Forward
    }
    fn required(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<AnsBitstream>()]
    }
    fn produced(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<Enhancement>()]
    }
    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        for &e in entities {
            let stream = world.get::<AnsBitstream>(e)?.clone();
            let [_, h, w] = stream.header().latent_shape();
            match Enhancement::new(self.blur, stream, (w as u32, h as u32)) {
                Ok(layer) => world.insert(e, layer)?,
                Err(err) => world.record_failure(e, err),
            }
        }
        Ok(())
    }
}

/// A layered stream and its parts. Forward: `AnsBitstream + Enhancement → AnsBitstream`, the
/// base stream with the enhancement after it. Inverse: `AnsBitstream → AnsBitstream`, the
/// enhancement's own stream out of a layered one (for the residual latent chain to decode),
/// an entity whose stream has none failing with that message.
#[derive(Debug, Clone, Copy)]
pub struct JoinLayers {
    direction: Direction,
}

impl JoinLayers {
    /// The system in `direction`.
    pub fn new(direction: Direction) -> Self {
        Self { direction }
    }
}

impl System for JoinLayers {
    two_way_system! {
        forward "layers": [AnsBitstream, Enhancement] => [AnsBitstream];
        inverse "layers⁻¹": [AnsBitstream] => [AnsBitstream];
    }
    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        for &e in entities {
            let joined = match self.direction {
                Direction::Forward => {
                    let layer = world.get::<Enhancement>(e)?.clone();
                    world
                        .get::<AnsBitstream>(e)?
                        .clone()
                        .with_enhancement(layer)
                }
                Direction::Inverse => match world.get::<AnsBitstream>(e)?.enhancement() {
                    Some(layer) => Ok(layer.stream.clone()),
                    None => Err(Error::InvalidInput(
                        "the stream has no enhancement layer".into(),
                    )),
                },
            };
            match joined {
                Ok(s) => world.insert(e, s)?,
                Err(err) => world.record_failure(e, err),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Planes of a residual added back to their prediction give the original exactly.
    #[test]
    fn planes_round_trip_to_the_original() {
        let original: Vec<u8> = (0..7 * 5 * 3).map(|i| (i * 37 % 256) as u8).collect();
        let prediction: Vec<u8> = (0..7 * 5 * 3).map(|i| (i * 91 % 256) as u8).collect();
        let mut planes = vec![1.0; PLANES * 35];
        residual_planes(&original, &prediction, &mut planes);
        assert!(planes[3 * 35..].iter().all(|&v| v == 0.0), "zero plane");
        let mut back = vec![0u8; original.len()];
        add_planes(&prediction, &planes, &mut back);
        assert_eq!(back, original);
        // Extremes clamp instead of wrapping.
        let big = vec![1000.0; PLANES * 35];
        add_planes(&prediction, &big, &mut back);
        assert!(back[..].iter().step_by(3).skip(1).any(|&v| v == 255));
    }
}
