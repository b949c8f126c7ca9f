//! `vaerans models`: the configured models, whether they load, and their latent shape.

use serde::Serialize;
use vaerans::vae::{Config, ExecutionProvider, Vae};
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
}

pub(crate) fn models(json: bool, ep: ExecutionProvider) -> Result<usize> {
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
            Vae::open(&spec, ep).and_then(|vae| {
                // Probe the latent shape with one 64×64 image.
                let f = vae.downsample();
                let side = 8 * f;
                let z = vae.encode_nchw(&vec![0.0; 3 * side * side], 1, side, side)?;
                let c = z.len() / (side / f * (side / f));
                Ok(format!("{c}×H/{f}×W/{f}"))
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
            error: opened.as_ref().err().map(|e| e.to_string()),
            latent: opened.ok(),
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
                    (Some(l), _) => format!("loads; latent {l}"),
                    (None, Some(e)) => format!("does not load: {e}"),
                    _ => String::new(),
                }
            );
        }
    }
    Ok(broken)
}
