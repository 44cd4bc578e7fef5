"""Per-frame visual CNN (spec section 2, the authors' `ConvNet`, model_type 'vanilla').

(3, 100, 100) HSV -> 3 x [conv, BatchNorm, ReLU, MaxPool 2] -> 3x6x6 -> dropout 0.2 -> 108 features -> Linear(108, 2).
938 trainable parameters at 100x100. Differences from the authors' code, on purpose: `forward` returns logits and
training uses CrossEntropy on them (the authors applied CrossEntropy to Softmax outputs, bug B6);
`probabilities()` gives the softmax.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import CNNConfig


class VisualCNN(nn.Module):
    def __init__(self, cfg: CNNConfig | None = None, image_size: int = 100):
        super().__init__()
        cfg = cfg or CNNConfig()
        self.cfg = cfg
        c, ci = cfg.channels, cfg.in_channels
        self.layer1 = nn.Sequential(
            nn.Conv2d(ci, c, 4, 2, 1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2, 2)
        )
        self.layer2 = nn.Sequential(
            nn.Conv2d(c, c, 6, 1, 2), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2, 2)
        )
        self.layer3 = nn.Sequential(
            nn.Conv2d(c, c, 5, 1, 2), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2, 2)
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.image_size = image_size
        self.n_features = self.feature_shape(image_size).numel()
        self.fc = nn.Linear(self.n_features, cfg.n_classes)

    def feature_shape(self, image_size: int) -> torch.Size:
        s = image_size
        s = ((s + 2 - 4) // 2 + 1) // 2
        s = ((s + 4 - 6) // 1 + 1) // 2
        s = ((s + 4 - 5) // 1 + 1) // 2
        if s < 1:
            raise ValueError(f"image size {image_size} is too small for the CNN")
        return torch.Size((self.cfg.channels, s, s))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 108): flattened layer-3 output after dropout (as the authors)."""
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.dropout(x).flatten(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) -> (logits (N, 2), features (N, 108))."""
        f = self.features(x)
        return self.fc(f), f

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.forward(x)[0], dim=-1)
