//! The residual layer's systems in order, both ways: the one list the codec's pipes run and its
//! memory budget sums.

use super::settings::{ResidualSettings, LEVELS, PLANES};
use super::systems::{EnhancementLayer, GaussianBlur, JoinLayers, ResidualAdd, ResidualCompute};
use crate::bitstream::EntropyCoding;
use crate::error::Result;
use crate::latent::LatentCodec;
use crate::layout::Wavelet;
use crate::{Direction, EntityShape, System};

/// The systems that code an image's residual once its base is decoded (`ReconRgb`), coded
/// with `entropy` (`None`: the smaller per stream): the blur its settings ask for, the
/// residual, the residual's latent chain and its layer (`Enhancement`). The encoder runs them
/// between `select::<AnsBitstream>()` and `use_`, then joins the layers ([`JoinLayers`]).
pub fn encoder(
    settings: &ResidualSettings,
    entropy: Option<EntropyCoding>,
) -> Result<Vec<Box<dyn System>>> {
    let blurred = settings.blur() > 0;
    let mut chain: Vec<Box<dyn System>> = Vec::new();
    if blurred {
        chain.push(Box::new(GaussianBlur::new(settings.blur())?));
    }
    chain.push(Box::new(ResidualCompute::new(blurred)));
    chain.extend(settings.codec()?.with_entropy(entropy).encoder());
    chain.push(Box::new(EnhancementLayer::new(settings.blur())?));
    Ok(chain)
}

/// The systems that add a layered stream's residual to its decoded base (`ReconRgb`), its
/// prediction blurred with σ code `blur`: the residual's stream out of the layered one, the
/// blur, the residual's latent chain inverse and the sum.
pub fn decoder(blur: u8) -> Result<Vec<Box<dyn System>>> {
    let mut chain: Vec<Box<dyn System>> = vec![Box::new(JoinLayers::new(Direction::Inverse))];
    if blur > 0 {
        chain.push(Box::new(GaussianBlur::new(blur)?));
    }
    // Decoding reads every parameter from the stream; the chain only fixes the stages.
    chain.extend(planes_codec()?.decoder());
    chain.push(Box::new(ResidualAdd::new(blur > 0)));
    Ok(chain)
}

/// The shape of a `width × height` image's residual work, for sizing: its planes and levels.
pub fn shape_of(width: u32, height: u32) -> Result<EntityShape> {
    Ok(planes_codec()?.shape_of([PLANES, height as usize, width as usize]))
}

/// The residual planes' latent chain at any quality.
fn planes_codec() -> Result<LatentCodec> {
    LatentCodec::default().with_wavelet(Wavelet::Cdf53, LEVELS)
}
