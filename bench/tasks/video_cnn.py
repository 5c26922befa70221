"""Per-frame CNN encoders for LRCN (Donahue et al. 2015): one image network shared over time, trained jointly.

`FrameEncoder` maps uint8 clips [B, T, C, H, W] to frame features [B, T, F]: it converts to float itself, so
the generic module and the gradient probe can hand it the stored uint8 tensors.

run: python -c "import torch; from bench.tasks.video_cnn import build; print(build('small', 64, 16)(torch.zeros(2, 8, 3, 32, 32, dtype=torch.uint8)).shape)"
"""

from pathlib import Path

import torch
from torch import nn

from bench.base.errors import BenchError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def small_cnn(width: int) -> tuple[nn.Module, int]:
    """Three conv-BN-ReLU blocks (the last two stride 2), pooled to a 4 x 4 grid that keeps where things are."""

    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    net = nn.Sequential(
        *block(3, width, 2),
        *block(width, 2 * width, 2),
        *block(2 * width, 2 * width, 2),
        nn.AdaptiveAvgPool2d(4),  # position matters: global pooling would hide the direction of motion
        nn.Flatten(),
    )
    return net, 2 * width * 16


def resnet18(weights: str) -> tuple[nn.Module, int]:
    """torchvision's resnet18 without its classifier; random init, or a state dict from a local file."""
    from torchvision.models import resnet18 as make

    net = make(weights=None)
    net.fc = nn.Identity()
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise BenchError(
                f"backbone weights file '{path}' not found; give a local resnet18 state-dict file"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle and zip errors come in several types
            raise BenchError(f"cannot read backbone weights '{path}': {e}") from None
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        if not isinstance(state, dict):
            raise BenchError(f"backbone weights '{path}' hold a {type(state).__name__}, not a state dict")
        state = {
            k.removeprefix("module."): v for k, v in state.items() if not k.startswith(("fc.", "module.fc."))
        }
        try:
            net.load_state_dict(state)
        except RuntimeError as e:  # missing, unexpected or misshapen keys
            detail = " ".join(str(e).split("\n", 1)[-1].split())
            raise BenchError(f"backbone weights '{path}' do not fit resnet18: {detail[:300]}") from None
    return net, 512


class FrameEncoder(nn.Module):
    """x uint8 [B, T, C, H, W] -> features [B, T, F]: the same image network on every frame, then a projection."""

    def __init__(self, backbone: nn.Module, out: int, feature_size: int, imagenet: bool):
        super().__init__()
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if imagenet else ((0.5,) * 3, (0.25,) * 3)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.backbone = backbone
        self.project = nn.Sequential(nn.Linear(out, feature_size), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        frames = x.flatten(0, 1).float() / 255  # [B * T, C, H, W] in [0, 1]
        if frames.shape[1] == 1:  # grey video: the same plane on the three channels
            frames = frames.expand(-1, 3, -1, -1)
        frames = (frames - self.mean) / self.std
        return self.project(self.backbone(frames)).view(b, t, -1)  # [B, T, F]


def build(backbone: str, feature_size: int, width: int = 32, weights: str = "") -> FrameEncoder:
    if backbone == "resnet18":
        return FrameEncoder(*resnet18(weights), feature_size, imagenet=True)
    return FrameEncoder(*small_cnn(width), feature_size, imagenet=False)
