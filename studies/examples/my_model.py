"""An entry point for ``source = "python"`` (studies/examples/my_model.toml): your own network, built by your
own code. ``build`` returns the model and, optionally, its preprocessing, class names and CAM layer."""

import torch
from torch import nn

CLASSES = ["goldfish", "flamingo"]


class MyNet(nn.Module):
    """A small CNN whose forward returns a dict, as many research models do: xai-report explains its
    ``logits`` (the rule: the ``logits`` key or attribute, else the first tensor)."""

    def __init__(self, num_classes: int = len(CLASSES)):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):
        features = self.features(x)
        return {"logits": self.head(features.mean(dim=(2, 3))), "features": features}


def build(file: str = ""):
    model = MyNet()
    if file:
        model.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
    return {
        "model": model,
        "class_names": CLASSES,
        "preprocess": {"resize": 128, "crop": 112, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        "default_layer": "features",
    }
