//! Reading image files the way a viewer shows them: [`open_image`].

use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::bitstream::Limits;
use crate::error::{Error, Result};

/// What to do with an image's alpha channel. The codec codes RGB only, so an alpha channel is
/// never dropped silently: pixels under transparent areas would reappear.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Alpha {
    /// An image with an alpha channel is an error (the default).
    #[default]
    Error,
    /// Keep the colour channels as they are, whatever the alpha says.
    Drop,
    /// Composite over a background colour (straight, not premultiplied, alpha).
    Over([u8; 3]),
}

impl std::str::FromStr for Alpha {
    type Err = String;

    /// `error`, `drop`, or `over=RRGGBB` (hex, e.g. `over=ffffff`).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "error" => return Ok(Self::Error),
            "drop" => return Ok(Self::Drop),
            _ => {}
        }
        let hex = s
            .strip_prefix("over=")
            .ok_or_else(|| format!("`{s}` is not error, drop or over=RRGGBB"))?;
        let value = u32::from_str_radix(hex.trim_start_matches('#'), 16)
            .ok()
            .filter(|_| hex.trim_start_matches('#').len() == 6)
            .ok_or_else(|| format!("`{hex}` is not a colour as six hex digits (RRGGBB)"))?;
        let [_, r, g, b] = value.to_be_bytes();
        Ok(Self::Over([r, g, b]))
    }
}

/// Opens an image file as RGB8 as a viewer would show it: the format from the file's content
/// (not its extension), the EXIF orientation applied, alpha handled by `alpha`. 16-bit images
/// are rounded to 8 bits; grayscale is spread to three channels. An embedded ICC profile is not
/// applied (the pixels are read as sRGB); one that is not sRGB's is logged as a warning.
///
/// The image's size is read from the file's header and checked before its pixels are
/// decoded: reading it may take no more than the default [`Limits::max_memory`], so that a
/// small file declaring a huge image is refused up front. [`Codec::open_image`]
/// checks against the codec's own budget, which also counts compressing the image.
///
/// [`Codec::open_image`]: crate::Codec::open_image
pub fn open_image(path: &Path, alpha: Alpha) -> Result<RgbImage> {
    open_image_within(path, alpha, |w, h| reading_fits(&Limits::default(), w, h))
}

/// [`open_image`] on an image file's bytes already in memory (`name` says what they are in
/// messages): reading them may take no more than `limits` allow (its largest side and
/// [`Limits::max_memory`]), checked from the header before any pixel is decoded.
///
/// ```
/// let err = vaerans::decode_image(b"not an image", "upload", vaerans::Alpha::Error,
///     &vaerans::Limits::default()).unwrap_err();
/// assert!(err.to_string().contains("upload"));
/// ```
pub fn decode_image(bytes: &[u8], name: &str, alpha: Alpha, limits: &Limits) -> Result<RgbImage> {
    let reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(format!("{name}: {e}")))?;
    read_image(reader, name, alpha, |w, h| reading_fits(limits, w, h))
}

/// Whether reading a `w × h` image (its decoded pixels and their RGB8 copy) fits `limits`.
fn reading_fits(limits: &Limits, w: u32, h: u32) -> Result<()> {
    super::images::check_sides(w, h, limits.max_image_dim)?;
    let pixels = u64::from(w) * u64::from(h);
    limits.check_memory(
        &format!("reading a {w}×{h} image"),
        &[("for its pixels", 2 * 3 * pixels)],
    )
}

/// [`open_image`], with `check` deciding from the image's size whether to read it.
pub(crate) fn open_image_within(
    path: &Path,
    alpha: Alpha,
    check: impl FnOnce(u32, u32) -> Result<()>,
) -> Result<RgbImage> {
    let reader = ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    read_image(reader, &path.display().to_string(), alpha, check)
}

/// Decodes an image as a viewer shows it, once `check` accepts its size (read from the
/// header, before any pixel is decoded); `name` says which image in messages.
fn read_image<R: std::io::BufRead + std::io::Seek>(
    reader: ImageReader<R>,
    name: &str,
    alpha: Alpha,
    check: impl FnOnce(u32, u32) -> Result<()>,
) -> Result<RgbImage> {
    let bad = |e: &dyn std::fmt::Display| Error::Image(format!("{name}: {e}"));
    let mut decoder = reader.into_decoder().map_err(|e| bad(&e))?;
    let (width, height) = decoder.dimensions();
    check(width, height).map_err(|e| match e {
        Error::MemoryBudget {
            what,
            need_mib,
            parts,
            budget_mib,
        } => Error::MemoryBudget {
            what: format!("{name}: {what}"),
            need_mib,
            parts,
            budget_mib,
        },
        other => bad(&other),
    })?;
    let orientation = decoder.orientation().map_err(|e| bad(&e))?;
    if let Ok(Some(icc)) = decoder.icc_profile() {
        // sRGB profiles name themselves in their description tag.
        if !icc.windows(4).any(|w| w == b"sRGB") {
            tracing::warn!(
                "{name}: its ICC colour profile ({} bytes) is not sRGB and is not applied; \
                 colours are read as sRGB",
                icc.len()
            );
        }
    }
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| bad(&e))?;
    image.apply_orientation(orientation);
    with_alpha(image, alpha).map_err(|color| Error::Alpha(format!("{name} ({color:?})")))
}

/// `image` as RGB8 under the alpha policy; the image's colour type when the policy refuses it.
fn with_alpha(
    image: DynamicImage,
    alpha: Alpha,
) -> std::result::Result<RgbImage, image::ColorType> {
    if !image.color().has_alpha() {
        return Ok(image.to_rgb8());
    }
    match alpha {
        Alpha::Error => Err(image.color()),
        Alpha::Drop => Ok(image.to_rgb8()),
        Alpha::Over(bg) => {
            let rgba = image.to_rgba8();
            Ok(RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
                let p = rgba.get_pixel(x, y).0;
                let a = u32::from(p[3]);
                image::Rgb(std::array::from_fn(|c| {
                    // Rounded a·fg + (1 − a)·bg in 8-bit fixed point.
                    let v = u32::from(p[c]) * a + u32::from(bg[c]) * (255 - a);
                    ((v + 127) / 255) as u8
                }))
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_in_memory_read_like_the_file_and_are_checked_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        let img = RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 9]));
        img.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let from_file = open_image(&path, Alpha::Error).unwrap();
        let limits = Limits::default();
        assert_eq!(
            decode_image(&bytes, "p", Alpha::Error, &limits).unwrap(),
            from_file
        );
        assert_eq!(from_file, img);
        let err = decode_image(b"not an image", "junk", Alpha::Error, &limits).unwrap_err();
        assert!(
            matches!(err, Error::Image(_)) && err.to_string().contains("junk"),
            "{err}"
        );
        // A PNG header declaring 60000×60000 is refused from the header, before decoding.
        let mut big = bytes.clone();
        big[16..24].copy_from_slice(&[0, 0, 0xea, 0x60, 0, 0, 0xea, 0x60]);
        // Re-seal the IHDR chunk (CRC-32 over its type and data, bytes 12..29).
        let crc = !big[12..29].iter().fold(!0u32, |mut c, &b| {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                };
            }
            c
        });
        big[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = decode_image(&big, "big", Alpha::Error, &limits).unwrap_err();
        assert!(matches!(err, Error::MemoryBudget { .. }), "{err}");
    }

    #[test]
    fn alpha_policies_parse_and_composite() {
        assert_eq!("error".parse::<Alpha>(), Ok(Alpha::Error));
        assert_eq!("drop".parse::<Alpha>(), Ok(Alpha::Drop));
        assert_eq!(
            "over=ff8000".parse::<Alpha>(),
            Ok(Alpha::Over([255, 128, 0]))
        );
        for bad in ["over=fff", "over=zzzzzz", "keep", "over="] {
            assert!(bad.parse::<Alpha>().is_err(), "{bad}");
        }
        let rgba = image::RgbaImage::from_fn(3, 1, |x, _| match x {
            0 => image::Rgba([200, 10, 30, 0]),
            1 => image::Rgba([200, 10, 30, 255]),
            _ => image::Rgba([200, 0, 100, 128]),
        });
        let img = DynamicImage::ImageRgba8(rgba);
        assert_eq!(
            with_alpha(img.clone(), Alpha::Error),
            Err(image::ColorType::Rgba8)
        );
        let dropped = with_alpha(img.clone(), Alpha::Drop).unwrap();
        assert_eq!(dropped.get_pixel(0, 0).0, [200, 10, 30]);
        let over = with_alpha(img, Alpha::Over([255, 255, 255])).unwrap();
        assert_eq!(over.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(over.get_pixel(1, 0).0, [200, 10, 30]);
        // 128/255 of (200, 0, 100) over white.
        assert_eq!(over.get_pixel(2, 0).0, [227, 127, 177]);
        // Without alpha the policy does not matter.
        let rgb = DynamicImage::ImageRgb8(RgbImage::new(2, 2));
        assert!(with_alpha(rgb, Alpha::Error).is_ok());
    }
}
