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
    open_image_within(path, alpha, |w, h| {
        let pixels = u64::from(w) * u64::from(h);
        Limits::default().check_memory(
            &format!("reading a {w}×{h} image"),
            &[("for its pixels", 2 * 3 * pixels)],
        )
    })
}

/// [`open_image`], with `check` deciding from the image's size whether to read it.
pub(crate) fn open_image_within(
    path: &Path,
    alpha: Alpha,
    check: impl FnOnce(u32, u32) -> Result<()>,
) -> Result<RgbImage> {
    let bad = |e: &dyn std::fmt::Display| Error::Image(format!("{}: {e}", path.display()));
    let reader = ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let mut decoder = reader.into_decoder().map_err(|e| bad(&e))?;
    let (width, height) = decoder.dimensions();
    check(width, height).map_err(|e| match e {
        Error::MemoryBudget {
            what,
            need_mib,
            parts,
            budget_mib,
        } => Error::MemoryBudget {
            what: format!("{}: {what}", path.display()),
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
                "{}: its ICC colour profile ({} bytes) is not sRGB and is not applied; colours \
                 are read as sRGB",
                path.display(),
                icc.len()
            );
        }
    }
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| bad(&e))?;
    image.apply_orientation(orientation);
    with_alpha(image, alpha)
        .map_err(|color| Error::Alpha(format!("{} ({color:?})", path.display())))
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
