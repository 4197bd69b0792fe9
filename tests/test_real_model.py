"""The packaged EfficientNet-Lite0 with real ImageNet weights: its own preprocessing makes it accurate."""

import csv
import os

import pytest
import torch

from xai_report.data import list_images, load_rgb, prepare, wnid_of
from xai_report.models import IMAGENET_MEAN, IMAGENET_STD, Preprocess

from conftest import SHARED_DATA, STUDY_IMAGES

pytestmark = pytest.mark.real_model
VAL = SHARED_DATA / "probe" / "imagenet-val"


def _top1(model, pre, paths):
    preds = []
    with torch.inference_mode():
        for start in range(0, len(paths), 100):
            batch = torch.cat([prepare(load_rgb(p), pre).tensor for p in paths[start:start + 100]])
            preds += model(batch).argmax(1).tolist()
    return preds


@pytest.mark.skipif(not VAL.is_dir() and not os.environ.get("CI"), reason=f"{VAL} not present")
def test_own_scaling_reaches_80_percent_on_imagenet_val(effnet):
    rows = list(csv.DictReader(open(VAL / "labels.csv")))
    assert len(rows) == 1300
    preds = _top1(effnet.module, effnet.preprocess, [VAL / r["file"] for r in rows])
    accuracy = sum(p == int(r["class_index"]) for p, r in zip(preds, rows)) / len(rows)
    assert accuracy >= 0.80, accuracy
    # ImageNet's mean/std (the wrong scaling for this model) is measurably worse on the same photos
    wrong = Preprocess(resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    sub = rows[:400]
    wrong_preds = _top1(effnet.module, wrong, [VAL / r["file"] for r in sub])
    wrong_acc = sum(p == int(r["class_index"]) for p, r in zip(wrong_preds, sub)) / len(sub)
    right_acc = sum(p == int(r["class_index"]) for p, r in zip(preds[:400], sub)) / len(sub)
    assert right_acc > wrong_acc


def test_study_images_top1(effnet):
    paths = list_images(STUDY_IMAGES)
    assert len(paths) == 10
    preds = _top1(effnet.module, effnet.preprocess, paths)
    correct = [effnet.wnids[k] == wnid_of(p) for k, p in zip(preds, paths)]
    assert sum(correct) >= 8, [p.name for p, ok in zip(paths, correct) if not ok]
