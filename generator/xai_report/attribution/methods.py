"""The registry of attribution methods: a new ``grad-cam`` CAM is one entry here.

Each CAM entry names a class with the ``pytorch_grad_cam`` constructor ``cls(model=, target_layers=)``;
it is called as ``cam(input_tensor=x, targets=[ClassifierOutputTarget(k)])`` with ``k`` the explained class
(never a fixed 0: ``ClassifierOutputTarget(0)`` explains class 0, tench, whatever the image shows).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    kind: str
    """``cam`` (a pytorch_grad_cam-style class) or ``lime``."""
    target: str
    """``module:attribute`` of the implementation, imported on first use."""
    citation: str
    batched: bool = False
    """Whether the method runs many forward passes, so ``attribution.batch_size`` affects its speed."""

    def implementation(self):
        module, attr = self.target.split(":")
        return getattr(importlib.import_module(module), attr)


_CAM = "pytorch_grad_cam"
_FAST = "xai_report.attribution.fast_cams"

METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("gradcam", "Grad-CAM", "cam", f"{_CAM}:GradCAM",
               "Selvaraju et al., Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization, ICCV 2017"),
        Method("ablationcam", "Ablation-CAM", "cam", f"{_FAST}:FastAblationCAM",
               "Desai & Ramaswamy, Ablation-CAM: Visual Explanations for Deep Convolutional Network via Gradient-free Localization, WACV 2020",
               batched=True),
        Method("scorecam", "Score-CAM", "cam", f"{_FAST}:FastScoreCAM",
               "Wang et al., Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks, CVPR Workshops 2020",
               batched=True),
        Method("gradcam++", "Grad-CAM++", "cam", f"{_CAM}:GradCAMPlusPlus",
               "Chattopadhyay et al., Grad-CAM++: Improved Visual Explanations for Deep Convolutional Networks, WACV 2018"),
        Method("xgradcam", "XGrad-CAM", "cam", f"{_CAM}:XGradCAM",
               "Fu et al., Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of CNNs, BMVC 2020"),
        Method("eigencam", "Eigen-CAM", "cam", f"{_CAM}:EigenCAM",
               "Muhammad & Yeasin, Eigen-CAM: Class Activation Map using Principal Components, IJCNN 2020"),
        Method("layercam", "LayerCAM", "cam", f"{_CAM}:LayerCAM",
               "Jiang et al., LayerCAM: Exploring Hierarchical Class Activation Maps for Localization, IEEE TIP 2021"),
        Method("hirescam", "HiResCAM", "cam", f"{_CAM}:HiResCAM",
               "Draelos & Carin, Use HiResCAM instead of Grad-CAM for faithful explanations of convolutional neural networks, 2020"),
        Method("eigengradcam", "Eigen-Grad-CAM", "cam", f"{_CAM}:EigenGradCAM",
               "Eigen-CAM (Muhammad & Yeasin, IJCNN 2020) applied to activations x gradients, as in pytorch-grad-cam"),
        Method("gradcamelementwise", "Grad-CAM element-wise", "cam", f"{_CAM}:GradCAMElementWise",
               "Grad-CAM (Selvaraju et al., ICCV 2017) with element-wise gradient x activation, as in pytorch-grad-cam"),
        Method("ablationcam-library", "Ablation-CAM (library)", "cam", f"{_CAM}:AblationCAM",
               "Desai & Ramaswamy, WACV 2020; the grad-cam package's own implementation (slow, for comparison)",
               batched=True),
        Method("scorecam-library", "Score-CAM (library)", "cam", f"{_CAM}:ScoreCAM",
               "Wang et al., CVPR Workshops 2020; the grad-cam package's own implementation (slow, for comparison)",
               batched=True),
        Method("lime", "LIME", "lime", "xai_report.attribution.lime_explainer:explain_lime",
               "Ribeiro, Singh & Guestrin, \"Why Should I Trust You?\": Explaining the Predictions of Any Classifier, KDD 2016"),
    ]
}


def method_title(name: str) -> str:
    return METHODS[name].title if name in METHODS else name
