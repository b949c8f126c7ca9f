//! `vaerans info`: every header field of a stream.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use vaerans::{AnsBitstream, Error, Limits, Result};

#[derive(Serialize)]
pub(crate) struct BandInfo {
    channel: usize,
    band: usize,
    level: u8,
    orientation: String,
    width: usize,
    height: usize,
    step_code: u8,
    step: f32,
    center: i32,
    /// Every coefficient quantised to 0 (no table entry, no payload).
    zero: bool,
}

/// A layered stream's enhancement layer.
#[derive(Serialize)]
pub(crate) struct EnhancementInfo {
    /// `residual`: what the base image misses, as YCoCg planes.
    kind: &'static str,
    quality: u8,
    /// σ of the blur of the base the residual is predicted from, in pixels (0: none).
    blur_sigma: f32,
    entropy_coding: String,
    zero_bands: usize,
    bands: usize,
    /// The layer with its framing.
    bytes: usize,
}

#[derive(Serialize)]
pub(crate) struct StreamInfo {
    file: PathBuf,
    version: String,
    width: u32,
    height: u32,
    padded_width: u32,
    padded_height: u32,
    latent_channels: u16,
    latent_height: u32,
    latent_width: u32,
    model: String,
    /// A bare latent (coded from a latent file, no image): decoding needs no model.
    bare_latent: bool,
    /// The element type a bare latent's file held, which decoding restores.
    latent_dtype: Option<&'static str>,
    decoder_sha256: String,
    wavelet: String,
    levels: u8,
    quality: u8,
    channel_transform: String,
    /// `tables` (static per-band models in the header) or `adaptive` (no tables, format 3).
    entropy_coding: String,
    input_range: Option<[f32; 2]>,
    downsample: u8,
    channel_step_offsets: Vec<i16>,
    level_step_offsets: Vec<i16>,
    zero_bands: usize,
    bytes_total: usize,
    bytes_header: usize,
    bytes_tables: usize,
    bytes_payload: usize,
    bpp: f64,
    enhancement: Option<EnhancementInfo>,
    bands: Vec<BandInfo>,
}

/// Prints a stream's header, or a shard's members (`.tar`); returns how many members are
/// damaged.
pub(crate) fn info(path: &Path, json: bool) -> Result<usize> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tar"))
    {
        return crate::latents::list_shard(path, json);
    }
    stream_info(path, json).map(|()| 0)
}

fn stream_info(path: &Path, json: bool) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let stream = AnsBitstream::parse(bytes, &Limits::default())?;
    let sizes = stream.sizes();
    let h = stream.header();
    // The payload is decoded too: it checks the whole stream, and a stream without tables
    // (format 3) derives its bands' centres from their coefficients.
    let mut symbols = vec![0u8; h.latent_len()];
    let quant = vaerans::latent::stream::decode_symbols_into(&stream, &mut symbols)?;
    let (src, q) = (&h.source, &quant);
    let table = vaerans::layout::bands(h.latent_h as usize, h.latent_w as usize, q.levels);
    let bands = q
        .bands
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let b = table[i % table.len()];
            BandInfo {
                channel: i / table.len(),
                band: i % table.len(),
                level: b.level,
                orientation: format!("{:?}", b.orientation),
                width: b.w,
                height: b.h,
                step_code: q.step_code,
                step: q.step(),
                center: q.center,
                zero: h.is_zero_band(i),
            }
        })
        .collect();
    let enhancement = match stream.enhancement() {
        Some(layer) => {
            let r = layer.stream.header();
            // Decoded like the base: it checks the layer whole.
            vaerans::latent::stream::decode_symbols(&layer.stream)?;
            Some(EnhancementInfo {
                kind: "residual",
                quality: r.quant.quality,
                blur_sigma: vaerans::residual::blur::sigma_of(layer.blur),
                entropy_coding: r.entropy.name().to_string(),
                zero_bands: (0..r.quant.bands.len())
                    .filter(|&i| r.is_zero_band(i))
                    .count(),
                bands: r.quant.bands.len(),
                bytes: sizes.enhancement,
            })
        }
        None => None,
    };
    let version = format!("{}.{}", h.version_major, h.version_minor);
    let info = StreamInfo {
        file: path.to_path_buf(),
        version: match &enhancement {
            Some(_) => format!(
                "{}.0 (layered; base layer {version})",
                vaerans::bitstream::layers::LAYERED_MAJOR
            ),
            None => version,
        },
        width: src.width,
        height: src.height,
        padded_width: src.padded_width,
        padded_height: src.padded_height,
        latent_channels: h.channels,
        latent_height: h.latent_h,
        latent_width: h.latent_w,
        model: src.model.name.clone(),
        bare_latent: h.is_bare_latent(),
        latent_dtype: h.latent_dtype.map(|d| d.name()),
        decoder_sha256: src
            .model
            .decoder_hash
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        wavelet: format!("{:?}", q.wavelet),
        levels: q.levels,
        quality: q.quality,
        channel_transform: h.transform.name().to_string(),
        entropy_coding: h.entropy.name().to_string(),
        input_range: src.input_range,
        downsample: src.downsample,
        channel_step_offsets: q.allocation.channel_offsets().to_vec(),
        level_step_offsets: q.allocation.level_offsets().to_vec(),
        zero_bands: (0..q.bands.len()).filter(|&i| h.is_zero_band(i)).count(),
        bytes_total: sizes.total,
        bytes_header: sizes.header,
        bytes_tables: sizes.tables,
        bytes_payload: sizes.payload,
        bpp: sizes.total as f64 * 8.0 / (f64::from(src.width) * f64::from(src.height)),
        enhancement,
        bands,
    };
    let mut out = std::io::stdout().lock();
    if json {
        let line = serde_json::to_string(&info).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let _ = writeln!(out, "{line}");
        return Ok(());
    }
    let _ = writeln!(out, "file            {}", info.file.display());
    let _ = writeln!(out, "format version  {}", info.version);
    let _ = writeln!(
        out,
        "image           {}×{} (padded {}×{})",
        info.width, info.height, info.padded_width, info.padded_height
    );
    let _ = writeln!(
        out,
        "latent          {}×{}×{}",
        info.latent_channels, info.latent_height, info.latent_width
    );
    let _ = writeln!(
        out,
        "model           {}",
        match (info.bare_latent, info.model.is_empty()) {
            (true, true) => "(none: bare latent)".to_string(),
            (true, false) => format!("{} (bare latent: decoding needs no model)", info.model),
            (false, _) => info.model.clone(),
        }
    );
    if let Some(t) = info.latent_dtype {
        let _ = writeln!(out, "stored as       {t} (restored on decoding)");
    }
    let _ = writeln!(out, "decoder sha256  {}", info.decoder_sha256);
    let _ = writeln!(
        out,
        "wavelet         {} × {} levels",
        info.wavelet, info.levels
    );
    let _ = writeln!(out, "quality         {}", info.quality);
    let _ = writeln!(out, "channel mixing  {}", info.channel_transform);
    let _ = writeln!(out, "entropy coding  {}", info.entropy_coding);
    let _ = writeln!(
        out,
        "input range     {}",
        match info.input_range {
            Some([lo, hi]) => format!("[{lo}, {hi}], downsample {}", info.downsample),
            None => "not recorded".to_string(),
        }
    );
    let _ = writeln!(
        out,
        "step offsets    channels {:?}, levels (LL first) {:?}",
        info.channel_step_offsets, info.level_step_offsets
    );
    let _ = writeln!(
        out,
        "zero bands      {} of {}",
        info.zero_bands,
        info.bands.len()
    );
    let _ = writeln!(
        out,
        "size            {} bytes = header {} + tables {} + payload {}{} ({:.4} bpp)",
        info.bytes_total,
        info.bytes_header,
        info.bytes_tables,
        info.bytes_payload,
        match &info.enhancement {
            Some(e) => format!(" + enhancement {}", e.bytes),
            None => String::new(),
        },
        info.bpp
    );
    if let Some(e) = &info.enhancement {
        let _ = writeln!(
            out,
            "enhancement     {} at quality {}, blur σ {} px, {} coding, {} of {} bands zero",
            e.kind, e.quality, e.blur_sigma, e.entropy_coding, e.zero_bands, e.bands
        );
    }
    let _ = writeln!(
        out,
        "bands (base)    channel band level orientation size step center (zero: every coefficient 0)"
    );
    for b in &info.bands {
        let _ = writeln!(
            out,
            "                {:>7} {:>4} {:>5} {:>11} {}×{} {} {}{}",
            b.channel,
            b.band,
            b.level,
            b.orientation,
            b.width,
            b.height,
            b.step,
            b.center,
            if b.zero { " zero" } else { "" }
        );
    }
    Ok(())
}
