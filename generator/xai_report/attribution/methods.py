"""The registry of attribution methods: a new method is one entry here.

Each :class:`Method` says how to build its :class:`~.explainer.Explainer` from the study's
:class:`~.explainer.Settings`, and which of our modules (``code``) and which libraries its artifacts
depend on: they are part of the artifacts' cache keys (:meth:`xai_report.stage.Stage.key`), so editing
``ablation_cam.py`` recomputes Ablation-CAM's maps and nothing else.

* A ``grad-cam`` CAM class (the library's or ours, ``BaseCAM``'s constructor): ``cam(name, title, Class,
  citation)``; add ``code=(our_module,)`` for ours and ``batched=True`` if it runs many forward passes.
* Any other method: an :class:`~.explainer.Explainer` subclass in a module of its own, and
  ``Method(name, title, citation, make=ItsClass, code=(its_module, ...) + SHARED)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Callable

from pytorch_grad_cam import (AblationCAM, EigenCAM, EigenGradCAM, GradCAM, GradCAMElementWise, GradCAMPlusPlus,
                              HiResCAM, LayerCAM, ScoreCAM, XGradCAM)
from pytorch_grad_cam.base_cam import BaseCAM

from .. import data, numbers
from . import ablation_cam, cam_support, explainer, inference, lime_explainer, overlays, score_cam, split
from . import cam as cam_adapter
from .ablation_cam import FastAblationCAM
from .cam import CamExplainer
from .explainer import Explainer, Settings
from .lime_explainer import LimeExplainer
from .score_cam import FastScoreCAM
from . import rise

SHARED: tuple[ModuleType, ...] = (explainer, overlays, data)
"""Our modules behind every method's artifacts: the interface and its storage, the overlays, image preparation."""
HEATMAP_LIBRARIES = ("grad-cam", "opencv-python", "opencv-python-headless", "pillow")
"""What draws a heatmap overlay: grad-cam's colouring through OpenCV, the JPEG through Pillow."""


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    citation: str
    make: Callable[[Settings], Explainer]
    """Builds the method's explainer for a study."""
    code: tuple[ModuleType, ...] = SHARED
    """Our modules whose source is part of the cache key of this method's artifacts."""
    libraries: tuple[str, ...] = HEATMAP_LIBRARIES
    """Distributions whose versions are part of that key (torch, torchvision and numpy always are)."""


def cam(name: str, title: str, cam_class: type[BaseCAM], citation: str, *, code: tuple[ModuleType, ...] = (),
        batched: bool = False) -> Method:
    """A registry entry for a ``grad-cam`` CAM class; ``batched``: it runs many forward passes, so
    ``attribution.batch_size`` matters."""
    return Method(name, title, citation, make=lambda settings: CamExplainer(cam_class, settings, batched),
                  code=(cam_adapter, *code, *SHARED), libraries=HEATMAP_LIBRARIES)


_FAST = (cam_support, inference)

METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        cam("gradcam", "Grad-CAM", GradCAM,
            "Selvaraju et al., Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization, ICCV 2017"),
        cam("ablationcam", "Ablation-CAM", FastAblationCAM,
            "Desai & Ramaswamy, Ablation-CAM: Visual Explanations for Deep Convolutional Network via Gradient-free Localization, WACV 2020",
            code=(ablation_cam, split, *_FAST), batched=True),
        cam("scorecam", "Score-CAM", FastScoreCAM,
            "Wang et al., Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks, CVPR Workshops 2020",
            code=(score_cam, *_FAST), batched=True),
        cam("gradcam++", "Grad-CAM++", GradCAMPlusPlus,
            "Chattopadhyay et al., Grad-CAM++: Improved Visual Explanations for Deep Convolutional Networks, WACV 2018"),
        cam("xgradcam", "XGrad-CAM", XGradCAM,
            "Fu et al., Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of CNNs, BMVC 2020"),
        cam("eigencam", "Eigen-CAM", EigenCAM,
            "Muhammad & Yeasin, Eigen-CAM: Class Activation Map using Principal Components, IJCNN 2020"),
        cam("layercam", "LayerCAM", LayerCAM,
            "Jiang et al., LayerCAM: Exploring Hierarchical Class Activation Maps for Localization, IEEE TIP 2021"),
        cam("hirescam", "HiResCAM", HiResCAM,
            "Draelos & Carin, Use HiResCAM instead of Grad-CAM for faithful explanations of convolutional neural networks, 2020"),
        cam("eigengradcam", "Eigen-Grad-CAM", EigenGradCAM,
            "Eigen-CAM (Muhammad & Yeasin, IJCNN 2020) applied to activations x gradients, as in pytorch-grad-cam"),
        cam("gradcamelementwise", "Grad-CAM element-wise", GradCAMElementWise,
            "Grad-CAM (Selvaraju et al., ICCV 2017) with element-wise gradient x activation, as in pytorch-grad-cam"),
        cam("ablationcam-library", "Ablation-CAM (library)", AblationCAM,
            "Desai & Ramaswamy, WACV 2020; the grad-cam package's own implementation (slow, for comparison)",
            batched=True),
        cam("scorecam-library", "Score-CAM (library)", ScoreCAM,
            "Wang et al., CVPR Workshops 2020; the grad-cam package's own implementation (slow, for comparison)",
            batched=True),
        Method("lime", "LIME",
               "Ribeiro, Singh & Guestrin, \"Why Should I Trust You?\": Explaining the Predictions of Any Classifier, KDD 2016",
               make=LimeExplainer, code=(lime_explainer, inference, numbers, *SHARED),
               libraries=("lime", "scikit-image", "scikit-learn", "pillow")),
        Method("rise", "RISE", "Petsiuk, Das & Saenko, RISE: Randomized Input Sampling for Explanation of Black-box Models, BMVC 2018", make=rise.RiseExplainer, code=(rise, inference, *SHARED)),
    ]
}
