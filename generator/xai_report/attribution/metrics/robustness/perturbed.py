"""The perturbed inputs of one image and every method's explanation of each, for the robustness metrics.

The perturbations are drawn once per image from the metric's seed and shared by all the methods of the image: each
perturbed input is built once and every method that can be re-run explains it (a method's re-run takes one image,
so the re-runs are a loop; what is shared is the draw and the perturbed tensor).
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from ..base import Explain, MetricInput
from ..rerun import add_noise, explain

Draw = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]
"""One noise array of the input's shape from the generator."""


def perturbed_runs(inputs: MetricInput, runs: dict[str, Explain], draw: Draw, samples: int,
                   seed: int) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """For each of ``samples`` noises drawn in turn from ``np.random.default_rng(seed)``: the noise and every
    method's map (float64 HxW) of the input plus that noise."""
    rng = np.random.default_rng(seed)
    for _ in range(samples):
        noise = draw(rng, tuple(inputs.x.shape))
        x = add_noise(inputs.x, noise)
        yield noise, {m: explain(run, inputs.model, x, inputs.target) for m, run in runs.items()}


def uniform(radius: float) -> Draw:
    """Noise uniform in ``[-radius, radius]`` (Quantus's ``batch_uniform_noise`` without an upper bound)."""
    return lambda rng, shape: rng.uniform(-radius, radius, size=shape)


def gaussian(mean: float, std: float) -> Draw:
    """Normal noise (Quantus's ``batch_gaussian_noise``)."""
    return lambda rng, shape: rng.normal(mean, std, size=shape)
