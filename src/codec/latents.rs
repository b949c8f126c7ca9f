//! An image's latent and back, through the model alone: what a latent cache for diffusion
//! training holds, and what [`latent::bare`](crate::latent::bare) codes without a model.

use image::RgbImage;

use super::images::{rgb_image, Codec, RawImage};
use crate::components::{Latent, ReconRgb, Rgb, SourceInfo};
use crate::error::{Error, Result};
use crate::latent::file::{LatentArray, LatentDType};
use crate::vae::{VaeDecode, VaeEncode};
use crate::System;

impl Codec {
    /// The model's latent of `image`, `[C, h, w]` f32, unquantised (the image padded to the
    /// model's multiple, as when compressing).
    ///
    /// ```no_run
    /// # fn main() -> vaerans::Result<()> {
    /// let codec = vaerans::Codec::builder().build()?;
    /// let image = vaerans::open_image("photo.png".as_ref(), vaerans::Alpha::Drop)?;
    /// let latent = codec.latent_of(&image)?;
    /// let back = codec.image_of_latent(&latent, image.width(), image.height())?;
    /// assert_eq!(back.dimensions(), image.dimensions());
    /// # Ok(())
    /// # }
    /// ```
    pub fn latent_of(&self, image: &RgbImage) -> Result<LatentArray> {
        RawImage::from(image).check(self.limits().max_image_dim)?;
        let shape = self.image_shape(image.width(), image.height());
        let chain: [Box<dyn System>; 1] = [Box::new(VaeEncode::new(self.vae().clone()))];
        let (need, _) = self.footprint(&chain, &shape, image.as_raw().len());
        self.check_memory(self.vae(), &shape, (0, need), false)?;
        let mut world = self.world();
        Self::prepare_world(&mut world, need);
        let dims = [image.height() as usize, image.width() as usize, 3];
        let tensor = world.arena_mut().alloc_from::<u8>(&dims, image.as_raw())?;
        let e = world.spawn_with(Rgb { tensor });
        let latent = world.pipe(e).chain(chain).out::<Latent>()?;
        let values = world.arena().to_vec::<f32>(&latent.tensor)?;
        LatentArray::new(values, latent.tensor.shape().to_vec(), LatentDType::F32)
    }

    /// The model's image of a latent `[C, h, w]` (from [`latent_of`](Self::latent_of) or a
    /// decoded bare latent), cropped to `width × height`, the size of the image it came from.
    pub fn image_of_latent(
        &self,
        latent: &LatentArray,
        width: u32,
        height: u32,
    ) -> Result<RgbImage> {
        let vae = self.vae();
        let shape = self.image_shape(width, height);
        if latent.is_batch() || latent.latent_shape() != shape.latent {
            return Err(Error::InvalidInput(format!(
                "a {width}×{height} image under this model has a {:?} latent, not {:?}",
                shape.latent,
                latent.shape()
            )));
        }
        let chain: [Box<dyn System>; 1] = [Box::new(VaeDecode::new(vae.clone()))];
        let (need, _) = self.footprint(&chain, &shape, 4 * latent.data().len());
        self.check_memory(vae, &shape, (0, need), true)?;
        let mut world = self.world();
        Self::prepare_world(&mut world, need);
        let tensor = world.arena_mut().alloc_from(&shape.latent, latent.data())?;
        let e = world.spawn_with(Latent { tensor });
        let f = vae.downsample();
        world.insert(
            e,
            SourceInfo {
                width,
                height,
                padded_width: (shape.latent[2] * f) as u32,
                padded_height: (shape.latent[1] * f) as u32,
                model: vae.id().clone(),
                input_range: Some(vae.spec().input_range),
                downsample: f as u8,
            },
        )?;
        let recon = world.pipe(e).chain(chain).out::<ReconRgb>()?;
        rgb_image(&world, &recon)
    }
}
