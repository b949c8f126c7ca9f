"""The default vaerans autoencoder: 4 latent channels at 1/8 resolution.

Fully convolutional, so any height and width that are multiples of 8 work. Images enter
in [-1, 1] (NCHW, RGB) and leave in the same range, unclamped; the latent is the
encoder's plain output (deterministic, no moments).

Cost is kept where it buys quality: the encoder moves to low resolution quickly with
space-to-depth (one residual block at 1/4, two at 1/8); the decoder mirrors it with
depth-to-space (two residual blocks at 1/8, one each at 1/4 and 1/2).
"""

import torch
from torch import nn

LATENT_CHANNELS = 4
DOWNSAMPLE = 8


class ResBlock(nn.Module):
    """x + conv(relu(conv(x))), the second conv started near zero so training begins
    from the identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.bias)
        with torch.no_grad():
            self.conv2.weight.mul_(0.1)

    def forward(self, x):
        return x + self.conv2(torch.relu(self.conv1(x)))


class Encoder(nn.Module):
    def __init__(self, c1: int = 48, c2: int = 96, c3: int = 160,
                 latent_channels: int = LATENT_CHANNELS):
        super().__init__()
        self.net = nn.Sequential(
            nn.PixelUnshuffle(2),                       # 1/2, 12 ch
            nn.Conv2d(12, c1, 3, padding=1), nn.ReLU(),
            nn.PixelUnshuffle(2),                       # 1/4
            nn.Conv2d(4 * c1, c2, 1), nn.ReLU(),
            ResBlock(c2),
            nn.PixelUnshuffle(2),                       # 1/8
            nn.Conv2d(4 * c2, c3, 1), nn.ReLU(),
            ResBlock(c3),
            ResBlock(c3),
            nn.Conv2d(c3, latent_channels, 3, padding=1),
        )

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, c1: int = 48, c2: int = 96, c3: int = 160,
                 latent_channels: int = LATENT_CHANNELS):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(latent_channels, c3, 3, padding=1), nn.ReLU(),
            ResBlock(c3),
            ResBlock(c3),
            nn.Conv2d(c3, 4 * c2, 1), nn.PixelShuffle(2), nn.ReLU(),   # 1/4
            ResBlock(c2),
            nn.Conv2d(c2, 4 * c1, 1), nn.PixelShuffle(2), nn.ReLU(),   # 1/2
            ResBlock(c1),
            nn.Conv2d(c1, 12, 3, padding=1), nn.PixelShuffle(2),       # full, 3 ch
        )

    def forward(self, z):
        return self.net(z)


def param_count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
