//! What coding a latent cache costs the images it decodes to.
//!
//! For every image: its latent under the model (unquantised, stored as f16 as training caches
//! keep it), the model's image of that latent, then per quality the latent coded as a bare
//! latent and decoded, and the model's image of that. Prints, per quality, the mean bits per
//! latent value, latent SNR, largest absolute error, the decoded images' PSNR loss against the
//! unquantised latent's images, and the size against f16 storage.
//!
//! ```sh
//! cargo run --release --example latent_fidelity -- path/to/kodak [f1,f2,…] [tables|adaptive]
//! ```
//!
//! The streams use the model's own latent chain (its calibrated steps) and static tables, as
//! `vaerans latents encode --model-name vaerans-small-v1` writes them (`adaptive`: 5–7% smaller,
//! about 4× slower to decode).

use std::path::PathBuf;

use image::RgbImage;
use vaerans::bitstream::EntropyCoding;
use vaerans::latent::bare::{Fidelity, LatentFileCodec};
use vaerans::latent::file::{LatentArray, LatentDType};
use vaerans::metrics::psnr_u8;
use vaerans::prelude::*;
use vaerans::{open_image, Alpha};

fn main() -> vaerans::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or_else(|| Error::InvalidInput("usage: latent_fidelity DIR [f1,f2,…]".into()))?,
    );
    // Each fidelity: a quality (`76`), a latent SNR in dB (`snr30`) or a largest error
    // (`err0.1`), found per latent as `vaerans latents encode --snr / --max-error` finds it.
    let fidelities: Vec<(String, Fidelity)> = args
        .next()
        .unwrap_or_else(|| "20,40,60,70,80,85,90,95,100".into())
        .split(',')
        .map(|f| {
            let bad = || Error::InvalidInput(format!("`{f}` is not a quality, snrDB or errMAX"));
            let fidelity = if let Some(db) = f.strip_prefix("snr") {
                Fidelity::SnrDb(db.parse().map_err(|_| bad())?)
            } else if let Some(e) = f.strip_prefix("err") {
                Fidelity::MaxError(e.parse().map_err(|_| bad())?)
            } else {
                Fidelity::Quality(f.parse().map_err(|_| bad())?)
            };
            Ok((f.to_string(), fidelity))
        })
        .collect::<vaerans::Result<_>>()?;
    let entropy = match args.next().as_deref() {
        None | Some("tables") => EntropyCoding::Tables,
        Some("adaptive") => EntropyCoding::Adaptive,
        Some(other) => {
            return Err(Error::InvalidInput(format!(
                "`{other}` is not tables or adaptive"
            )))
        }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    let model = Codec::builder().device(Device::Cpu).build()?;
    let codecs: Vec<LatentFileCodec> = fidelities
        .iter()
        .map(|(_, f)| {
            // The model's own chain: its calibrated steps (the quality is the fidelity's).
            let chain = model.latent().clone().with_entropy(Some(entropy));
            LatentFileCodec::new(*f).with_chain(chain)
        })
        .collect();
    // Per quality: bits per value, SNR, max error, PSNR loss (sums over images; every image's
    // latent has as many values, so the size against f16 is 16 over the mean bits).
    let mut sums = vec![[0.0f64; 5]; fidelities.len()];
    let mut ceiling = 0.0;
    for path in &files {
        let image = open_image(path, Alpha::Drop)?;
        let (w, h) = image.dimensions();
        let raw = model.latent_of(&image)?;
        let values: Vec<f32> = raw
            .data()
            .iter()
            .map(|&v| LatentDType::F16.round(v))
            .collect();
        let latent = LatentArray::new(values, raw.shape().to_vec(), LatentDType::F16)?;
        let reference = psnr_of(&model, &latent, &image)?;
        ceiling += reference;
        let n = latent.data().len() as f64;
        print!("{:<12} {reference:6.2} dB", file_name(path));
        for (codec, sum) in codecs.iter().zip(&mut sums) {
            let coded = codec.encode_array(&latent)?.remove(0);
            let back = codec.decode(&coded.stream)?;
            let loss = reference - psnr_of(&model, &back, &image)?;
            let bits = coded.stream.len() as f64 * 8.0;
            let quality = f64::from(coded.quality);
            let row = [
                bits / n,
                coded.snr_db,
                f64::from(coded.max_error),
                loss,
                quality,
            ];
            for (s, v) in sum.iter_mut().zip(row) {
                *s += v;
            }
            print!(" {loss:6.3}");
        }
        println!("  ({w}×{h}, latent {:?})", latent.shape());
    }
    let k = files.len().max(1) as f64;
    println!(
        "\n{} images, the model's images of the f16 latents: {:.2} dB mean PSNR\n",
        files.len(),
        ceiling / k
    );
    println!("| fidelity | mean quality | bits/value | latent SNR dB | max abs error | PSNR loss dB | × smaller than f16 |");
    println!("|---|---|---|---|---|---|---|");
    for ((f, _), s) in fidelities.iter().zip(&sums) {
        println!(
            "| {f} | {:.1} | {:.3} | {:.2} | {:.3} | {:.3} | {:.1} |",
            s[4] / k,
            s[0] / k,
            s[1] / k,
            s[2] / k,
            s[3] / k,
            16.0 / (s[0] / k)
        );
    }
    Ok(())
}

fn psnr_of(model: &Codec, latent: &LatentArray, image: &RgbImage) -> vaerans::Result<f64> {
    let decoded = model.image_of_latent(latent, image.width(), image.height())?;
    psnr_u8(image.as_raw(), decoded.as_raw())
        .ok_or_else(|| Error::Internal("images of different sizes".into()))
}

fn file_name(p: &std::path::Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
