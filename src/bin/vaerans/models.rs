//! `vaerans models`: the configured models, whether they load, and their latent shape.

use std::path::PathBuf;

use serde::Serialize;
use vaerans::vae::{Calibration, CalibrationOptions, Config, Vae};

use crate::cli::ProviderArgs;
use vaerans::{Error, Result};

#[derive(Serialize)]
pub(crate) struct ModelReport {
    name: String,
    default: bool,
    encoder: String,
    decoder: String,
    files_exist: bool,
    loads: bool,
    error: Option<String>,
    latent: Option<String>,
    /// The provider the model opened on.
    provider: Option<String>,
    /// With `--placement`: nodes per provider, encoder then decoder.
    placement: Option<[std::collections::BTreeMap<String, usize>; 2]>,
}

/// Lists the models; returns how many do not load.
pub(crate) fn models(json: bool, placement: bool, provider: &ProviderArgs) -> Result<usize> {
    let config = Config::load()?;
    let default = config.resolve(None).map(|s| s.name).unwrap_or_default();
    match &config.path {
        Some(p) if !json => println!("config: {}", p.display()),
        None if !json => println!(
            "config: none found (searched {})",
            Config::search_paths()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => {}
    }
    let mut broken = 0;
    for spec in config.all() {
        let files_exist = spec.encoder.exists() && spec.decoder.exists();
        let opened = if files_exist {
            Vae::open_with(&spec, provider.ep, &provider.options()).and_then(|vae| {
                // Probe the latent shape with one 8f×8f image.
                let f = vae.downsample();
                let side = 8 * f;
                let z = vae.encode_nchw(&vec![0.0; 3 * side * side], 1, side, side)?;
                let c = z.len() / (side / f * (side / f));
                let nodes = if placement {
                    let (e, d) = vae.placement()?;
                    Some([e.0, d.0])
                } else {
                    None
                };
                Ok((
                    format!("{c}×H/{f}×W/{f}"),
                    vae.provider().to_string(),
                    nodes,
                ))
            })
        } else {
            Err(Error::Model("file missing".into()))
        };
        let r = ModelReport {
            default: spec.name == default,
            name: spec.name.clone(),
            encoder: spec.encoder.to_string(),
            decoder: spec.decoder.to_string(),
            files_exist,
            loads: opened.is_ok(),
            error: opened.as_ref().err().map(crate::describe),
            provider: opened.as_ref().ok().map(|o| o.1.clone()),
            placement: opened.as_ref().ok().and_then(|o| o.2.clone()),
            latent: opened.ok().map(|o| o.0),
        };
        if !r.loads {
            broken += 1;
        }
        if json {
            println!("{}", serde_json::to_string(&r).unwrap_or_default());
        } else {
            println!(
                "{}{}\n  encoder {}\n  decoder {}\n  {}",
                r.name,
                if r.default { " (default)" } else { "" },
                r.encoder,
                r.decoder,
                match (&r.latent, &r.error) {
                    (Some(l), _) => format!(
                        "loads on {}; latent {l}{}",
                        r.provider.as_deref().unwrap_or("?"),
                        r.placement
                            .as_ref()
                            .map(|[e, d]| format!(
                                "\n  encoder nodes: {}\n  decoder nodes: {}",
                                vaerans::vae::Placement(e.clone()),
                                vaerans::vae::Placement(d.clone())
                            ))
                            .unwrap_or_default()
                    ),
                    (None, Some(e)) => format!("does not load: {e}"),
                    _ => String::new(),
                }
            );
        }
    }
    Ok(broken)
}

/// `vaerans models --calibrate MODEL --images DIR`: measures the model's calibration on the
/// first `count` images (in `input_range` when given) and writes it (to `out`, else the
/// cache), printing what it found.
pub(crate) fn calibrate(
    model: &str,
    images: &[PathBuf],
    count: usize,
    out: Option<PathBuf>,
    input_range: Option<[f32; 2]>,
    provider: &ProviderArgs,
) -> Result<()> {
    let mut spec = Config::load()?.resolve(Some(model))?;
    if let Some(range) = input_range {
        spec.input_range = range;
    }
    let vae = Vae::open_with(&spec, provider.ep, &provider.options())?;
    let mut files = crate::io::image_files(images)?;
    files.sort();
    files.truncate(count.max(1));
    let imgs = files
        .iter()
        .map(|p| vaerans::open_image(p, vaerans::Alpha::Drop))
        .collect::<Result<Vec<_>>>()?;
    let options = CalibrationOptions {
        images: imgs.len(),
        ..Default::default()
    };
    let bar = crate::io::progress(imgs.len(), false);
    bar.set_message(format!("calibrating {}", spec.name));
    let cal = Calibration::measure(&vae, &imgs, &options, |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    let path = match out {
        Some(p) => p,
        None => Calibration::cache_path(&vae).ok_or_else(|| {
            Error::InvalidInput(
                "no cache folder (set VAERANS_CACHE_DIR or HOME), so say where with --out".into(),
            )
        })?,
    };
    cal.save(&path)?;
    let allocation = cal.allocation(vae.downsample())?;
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.3e}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "model {} calibrated on {} images ({} px crops)\n  channel weights: {}\n  after the \
         Hadamard stage: {}\n  estimated cost with the Hadamard stage {:.1}, without {:.1}: \
         channel transform {}\n  level factors (LL, then level 1 finest…): {}\n  step \
         offsets per channel: {:?}\n  step offsets per level: {:?}\nwrote {}",
        spec.name,
        cal.images,
        cal.crop,
        fmt(&cal.channel_weights),
        fmt(&cal.hadamard_weights),
        cal.estimated_cost(vaerans::components::ChannelTransform::Hadamard4),
        cal.estimated_cost(vaerans::components::ChannelTransform::None),
        cal.channel_transform,
        fmt(&cal.level_factors),
        allocation.channel_offsets(),
        allocation.level_offsets(),
        path.display()
    );
    Ok(())
}
