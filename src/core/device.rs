//! Where the codec's latent stages run: [`Device::Cpu`], [`Device::Gpu`] or [`Device::Auto`].

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Where Hadamard, wavelet and quantisation run.
///
/// The VAE runs wherever its ONNX Runtime execution provider says and entropy coding always runs
/// on the CPU; this choice covers the stages between them. Both paths compute the same maths and
/// produce streams the other decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// The GPU when an adapter exists, otherwise the CPU; the choice is logged.
    #[default]
    Auto,
    /// A GPU through wgpu. No adapter is an error, never a silent fallback.
    Gpu,
    /// Host memory and rayon.
    Cpu,
}

impl Device {
    /// Lower-case name, as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Gpu => "gpu",
            Device::Cpu => "cpu",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Device {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Device::Auto),
            "gpu" => Ok(Device::Gpu),
            "cpu" => Ok(Device::Cpu),
            other => Err(Error::InvalidInput(format!(
                "unknown device `{other}`; use auto, gpu or cpu"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for d in [Device::Auto, Device::Gpu, Device::Cpu] {
            assert_eq!(d.to_string().parse::<Device>().unwrap(), d);
        }
        assert_eq!("GPU".parse::<Device>().unwrap(), Device::Gpu);
        assert!("tpu".parse::<Device>().is_err());
    }
}
