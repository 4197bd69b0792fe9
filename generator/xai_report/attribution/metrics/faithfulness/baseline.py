"""The black baseline of the faithfulness and axiomatic metrics, and the model's class outputs on perturbed inputs.

"Black" is the pixel value 0 in every channel, normalised like the image: channel c takes ``(0 - mean_c) / std_c``
(Quantus's ``perturb_baseline="black"`` takes instead the image's smallest normalised value, one number for all
channels; the two agree when the image holds a black pixel and the channels share one mean and std).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...inference import BatchScorer
from ....models.preprocess import Preprocess
from ..perturbation import class_probabilities


def black_input(x: torch.Tensor, preprocess: Preprocess) -> torch.Tensor:
    """The black image in the model's normalised input space, shaped and placed like ``x`` (1, C, H, W)."""
    mean = torch.tensor(preprocess.mean, dtype=x.dtype, device=x.device)
    std = torch.tensor(preprocess.std, dtype=x.dtype, device=x.device)
    return ((0.0 - mean) / std)[None, :, None, None].expand_as(x).clone()


def class_outputs(model: nn.Module, batch: torch.Tensor, target: int, batch_size: int, softmax: bool) -> np.ndarray:
    """Class ``target``'s logit (or, with ``softmax``, its probability) for every image of ``batch``, float64,
    without autograd, ``batch_size`` images per pass."""
    if softmax:
        return class_probabilities(model, batch, target, batch_size)
    scorer = BatchScorer(model, chunk=batch_size)
    return scorer(batch.to(scorer.device))[:, target].double().cpu().numpy()
