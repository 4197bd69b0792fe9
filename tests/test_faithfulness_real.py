"""Explanations of the real EfficientNet-Lite0 mean something: removing the most salient 20% of pixels
(filled from a blurred copy) hurts the explained class more than removing the least salient 20%."""

import pytest
import torch

from xai_report.attribution.methods.explainer import Settings
from xai_report.attribution.metrics.faithfulness.deletion_insertion import salient_drop
from xai_report.attribution.methods.registry import METHODS
from xai_report.data import list_images, load_rgb, prepare
from xai_report.models import resolve_layer

from conftest import STUDY_IMAGES

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def study_inputs(effnet):
    inputs = []
    for path in list_images(STUDY_IMAGES):
        prepared = prepare(load_rgb(path), effnet.preprocess)
        x = prepared.tensor
        with torch.inference_mode():
            inputs.append((path.name, prepared, int(effnet.module(x).argmax())))
    return inputs


@pytest.mark.parametrize("method", ["gradcam", "ablationcam"])
def test_most_salient_20_percent_matters_more(effnet, study_inputs, method):
    settings = Settings(64, resolve_layer(effnet.module, "bn2"), effnet.preprocess,
                        torch.device("cpu"), seed=0)
    explainer = METHODS[method].make(settings)
    wins = []
    for name, image, predicted in study_inputs:
        cam = explainer.explain(effnet.module, image, predicted).map
        drop = salient_drop(effnet.module, image.tensor, cam, predicted, fraction=0.2)
        wins.append(drop.most_deleted < drop.least_deleted)
    assert len(wins) == 10 and sum(wins) >= 8, [n for (n, *_), w in zip(study_inputs, wins) if not w]
