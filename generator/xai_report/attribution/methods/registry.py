"""The registry of attribution methods: a new method is one entry here.

Each :class:`Method` says how to build its :class:`~.explainer.Explainer` from the study's
:class:`~.explainer.Settings` and declares its own parameters: a pydantic model (``params``) that validates the
method's table of the study file (``[attribution.lime]``), with one-line errors, before any compute starts
(:func:`check`). What enters the cache key of a method's maps comes from the explainer itself: the code that runs
(:attr:`~.explainer.Explainer.runs`, fingerprinted by its import closure, :mod:`xai_report.fingerprint`) and its
parameters (:meth:`~.explainer.Explainer.params`), never from a list kept here.

* A ``grad-cam`` CAM class (the library's or ours, ``BaseCAM``'s constructor): ``cam(name, title, Class,
  citation)``; ``batched=True`` if it runs many forward passes (then ``attribution.batch_size`` is a parameter).
* Any other method: an :class:`~.explainer.Explainer` subclass in a module of its own, taking ``(settings,
  params)``, and ``Method(name, title, citation, factory=ItsClass, params=ItsParams)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict
from pytorch_grad_cam import (AblationCAM, EigenCAM, EigenGradCAM, GradCAM, GradCAMElementWise, GradCAMPlusPlus,
                              HiResCAM, LayerCAM, ScoreCAM, XGradCAM)
from pytorch_grad_cam.base_cam import BaseCAM

from ...config.messages import table_parameters
from ...config.schema import AttributionConfig
from ...errors import ConfigError
from .ablation_cam import FastAblationCAM
from .attention_gradient import GradientAttentionExplainer
from .attention_rollout import RolloutExplainer
from .cam import CamExplainer
from .deeplift import DeepLiftExplainer, DeepLiftParams
from .expected_gradients import ExpectedGradientsExplainer, ExpectedGradientsParams
from .gradient_shap import GradientShapExplainer, GradientShapParams
from .guided_backprop import GuidedBackpropExplainer
from .guided_gradcam import GuidedGradCamExplainer
from .input_x_gradient import InputXGradientExplainer
from .integrated_gradients import IntegratedGradientsExplainer, IntegratedGradientsParams
from .kernel_shap import KernelShapExplainer, KernelShapParams
from .occlusion import OcclusionExplainer, OcclusionParams
from .saliency import SaliencyExplainer
from .smoothgrad import SmoothGradExplainer, SmoothGradParams
from .explainer import Explainer, Settings
from .lime_explainer import LimeExplainer, LimeParams
from .lrp import LrpExplainer, LrpParams
from .rise import RiseExplainer, RiseParams
from .score_cam import FastScoreCAM


class NoParams(BaseModel):
    """A method without a table of its own: any key in ``[attribution.<method>]`` is an error."""

    model_config = ConfigDict(extra="forbid", strict=True)

    def check(self) -> None:
        """Checks beyond types (none)."""


Family = Literal["cam", "gradient", "perturbation", "propagation", "attention"]
"""How a method finds its evidence; the pages group the methods by it: class activation maps (a layer's activations
weighted), gradients of the input, perturbing the input, propagating relevance back (LRP), a transformer's attention."""


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    citation: str
    factory: Callable[[Settings, BaseModel], Explainer]
    """Builds the method's explainer from the study's settings and the method's validated parameters."""
    params: type[BaseModel] = NoParams
    """The method's parameters: validates ``[attribution.<name>]``; needs a ``check()`` for what types cannot say."""
    family: Family = "cam"
    """How it finds its evidence (:data:`Family`)."""
    passes: int = 2
    """Model passes (forward and backward) one explanation takes, as an order of magnitude: the metrics that re-run
    a method re-run by default the methods with at most 2 (one forward, one backward; ``metrics.rerun_methods``)."""

    def parameters(self, table: dict) -> BaseModel:
        """The method's table of the study file, validated (one-line :class:`ConfigError` naming the key)."""
        return table_parameters(self.params, table, f"attribution.{self.name}")

    def make(self, settings: Settings) -> Explainer:
        """The method's explainer for a study (its table taken from ``settings.method_tables``)."""
        return self.factory(settings, self.parameters(settings.method_tables.get(self.name, {})))


def cam(name: str, title: str, cam_class: type[BaseCAM], citation: str, *, batched: bool = False) -> Method:
    """A registry entry for a ``grad-cam`` CAM class; ``batched``: it runs many forward passes, so
    ``attribution.batch_size`` matters."""
    return Method(name, title, citation, factory=lambda settings, _params: CamExplainer(cam_class, settings, batched),
                  passes=BATCHED_PASSES if batched else 2)


BATCHED_PASSES = 100
"""A batched CAM's passes (one forward pass per channel or mask, in batches): many."""


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        cam("gradcam", "Grad-CAM", GradCAM,
            "Selvaraju et al., Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization, ICCV 2017"),
        cam("ablationcam", "Ablation-CAM", FastAblationCAM,
            "Desai & Ramaswamy, Ablation-CAM: Visual Explanations for Deep Convolutional Network via Gradient-free Localization, WACV 2020", batched=True),
        cam("scorecam", "Score-CAM", FastScoreCAM,
            "Wang et al., Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks, CVPR Workshops 2020", batched=True),
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
               factory=LimeExplainer, params=LimeParams, family="perturbation", passes=1000),
        Method("rise", "RISE", "Petsiuk, Das & Saenko, RISE: Randomized Input Sampling for Explanation of Black-box Models, BMVC 2018", factory=RiseExplainer,
               params=RiseParams, family="perturbation", passes=1000),
        Method("lrp", "LRP",
               "Bach et al., On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance "
               "Propagation, PLOS ONE 2015; rules as recommended by Kohlbrenner et al., IJCNN 2020 (zennit)",
               factory=LrpExplainer, params=LrpParams, family="propagation"),
        Method("rollout", "Attention rollout",
               "Abnar & Zuidema, Quantifying Attention Flow in Transformers, ACL 2020",
               factory=RolloutExplainer, family="attention"),
        Method("attentiongrad", "Gradient-weighted attention",
               "Chefer, Gur & Wolf, Generic Attention-model Explainability for Interpreting Bi-Modal and "
               "Encoder-Decoder Transformers, ICCV 2021", factory=GradientAttentionExplainer, family="attention"),
        # captum 0.9 (the "captum" extra): the gradient and perturbation methods of pixels (:mod:`.captum_adapter`).
        Method("saliency", "Saliency", "Simonyan, Vedaldi & Zisserman, Deep Inside Convolutional Networks: "
               "Visualising Image Classification Models and Saliency Maps, ICLR Workshop 2014",
               factory=SaliencyExplainer, family="gradient"),
        Method("inputxgradient", "Input x Gradient", "Shrikumar et al., Not Just a Black Box: Learning Important "
               "Features Through Propagating Activation Differences, 2016", factory=InputXGradientExplainer,
               family="gradient"),
        Method("integratedgradients", "Integrated Gradients", "Sundararajan, Taly & Yan, Axiomatic Attribution for "
               "Deep Networks, ICML 2017", factory=IntegratedGradientsExplainer, params=IntegratedGradientsParams,
               family="gradient", passes=256),
        Method("smoothgrad", "SmoothGrad", "Smilkov et al., SmoothGrad: removing noise by adding noise, ICML "
               "Workshop 2017", factory=SmoothGradExplainer, params=SmoothGradParams, family="gradient",
               passes=100),
        Method("gradientshap", "GradientSHAP", "Lundberg & Lee, A Unified Approach to Interpreting Model "
               "Predictions, NeurIPS 2017 (captum's GradientShap)", factory=GradientShapExplainer,
               params=GradientShapParams, family="gradient", passes=64),
        Method("expectedgradients", "Expected Gradients", "Erion et al., Improving performance of deep learning "
               "models with axiomatic attribution priors and expected gradients, Nature Machine Intelligence 2021",
               factory=ExpectedGradientsExplainer, params=ExpectedGradientsParams, family="gradient", passes=64),
        Method("guidedbackprop", "Guided Backprop", "Springenberg et al., Striving for Simplicity: The All "
               "Convolutional Net, ICLR Workshop 2015", factory=GuidedBackpropExplainer, family="gradient"),
        Method("guidedgradcam", "Guided Grad-CAM", "Selvaraju et al., Grad-CAM: Visual Explanations from Deep "
               "Networks via Gradient-based Localization, ICCV 2017", factory=GuidedGradCamExplainer,
               family="gradient", passes=4),
        Method("deeplift", "DeepLIFT", "Shrikumar, Greenside & Kundaje, Learning Important Features Through "
               "Propagating Activation Differences, ICML 2017", factory=DeepLiftExplainer, params=DeepLiftParams,
               family="gradient"),
        Method("occlusion", "Occlusion", "Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, "
               "ECCV 2014", factory=OcclusionExplainer, params=OcclusionParams, family="perturbation",
               passes=169),
        Method("kernelshap", "KernelSHAP", "Lundberg & Lee, A Unified Approach to Interpreting Model Predictions, "
               "NeurIPS 2017 (on LIME's superpixels)", factory=KernelShapExplainer, params=KernelShapParams,
               family="perturbation", passes=1000),
    ]
}


def check(cfg: AttributionConfig) -> None:
    """The ``[attribution]`` table's methods and method tables, before any compute: known names, each table
    valid for its method, no other unknown key."""
    if not cfg.methods:
        raise ConfigError("attribution.methods: empty; allowed: " + ", ".join(METHODS))
    for m in cfg.methods:
        if m not in METHODS:
            raise ConfigError(f"attribution.methods: unknown method {m!r}; allowed: {', '.join(METHODS)}")
    for key, value in cfg.extra_tables().items():
        if key not in METHODS or not isinstance(value, dict):
            allowed = ", ".join(list(AttributionConfig.model_fields) + [f"[attribution.<method>] ({', '.join(METHODS)})"])
            raise ConfigError(f"unknown key attribution.{key}; allowed: {allowed}")
        METHODS[key].parameters(value)
