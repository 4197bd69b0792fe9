"""Canonizers that make timm's CNNs explainable by zennit's LRP rules, beside zennit's own for torchvision.

LRP (Bach et al., PLOS ONE 2015) redistributes relevance layer by layer with a rule per layer. Two things of a
network need rewriting first, without changing what it computes (zennit calls this canonizing; Montavon et al.,
"Layer-Wise Relevance Propagation: An Overview", 2019, Sec. 10.3.3; Motzkus et al., 2022):

* A BatchNorm after a convolution is folded into the convolution (``w' = w * g / sqrt(var + eps)``,
  ``b' = (b - mean) * g / sqrt(var + eps) + beta``), so the rule of the convolution sees one affine map. zennit's
  ``SequentialMergeBatchNorm`` pairs a convolution with the *leaf* batch norm right after it; timm's
  ``BatchNormAct2d`` (EfficientNet, MobileNet) is a batch norm with its activation as a child, so no leaf:
  :class:`MergeNormAct` pairs it with the convolution before it, and zennit's ``MergeBatchNorm`` folds it.
* A residual addition ``main(x) + shortcut(x)`` is a functional operation no module hook sees: left as is, its
  gradient copies the incoming relevance to both branches and so doubles it. zennit's torchvision
  ``ResNetCanonizer`` routes the sum through a ``zennit.layer.Sum`` module, which the composites give the
  ``Norm`` rule (relevance split in proportion to each branch's contribution). :class:`TimmResidual` does the same
  for timm's ``BasicBlock`` and ``Bottleneck`` (ResNet) and ``InvertedResidual`` and ``DepthwiseSeparableConv``
  (EfficientNet, MobileNet) with their skip: each block's forward is its own (same submodules, same order), with
  the addition replaced by ``Sum`` over the two branches stacked.
"""

from __future__ import annotations

import types

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from timm.models._efficientnet_blocks import DepthwiseSeparableConv, InvertedResidual
from timm.models.resnet import BasicBlock, Bottleneck
from zennit.canonizers import AttributeCanonizer, Canonizer, MergeBatchNorm
from zennit.layer import Sum
from zennit.torchvision import ResNetCanonizer


def _summed(block: nn.Module, main: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
    """``main + shortcut`` through the block's ``Sum`` module (the same number: a sum of two)."""
    return block.canonizer_sum(torch.stack([shortcut, main], dim=-1))


def _resnet_closed(self: BasicBlock | Bottleneck, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The end of timm's ResNet blocks: squeeze-excitation and drop path if any, then the shortcut added through
    ``Sum``."""
    if self.se is not None:
        out = self.se(out)
    if self.drop_path is not None:
        out = self.drop_path(out)
    shortcut = x if self.downsample is None else self.downsample(x)
    return _summed(self, out, shortcut)


def _resnet_basic(self: BasicBlock, x: torch.Tensor) -> torch.Tensor:
    """timm's ``BasicBlock.forward`` with the residual addition through ``Sum``."""
    out = self.aa(self.act1(self.drop_block(self.bn1(self.conv1(x)))))
    out = self.bn2(self.conv2(out))
    return self.act2(_resnet_closed(self, out, x))


def _resnet_bottleneck(self: Bottleneck, x: torch.Tensor) -> torch.Tensor:
    """timm's ``Bottleneck.forward`` with the residual addition through ``Sum``."""
    out = self.act1(self.bn1(self.conv1(x)))
    out = self.aa(self.act2(self.drop_block(self.bn2(self.conv2(out)))))
    out = self.bn3(self.conv3(out))
    return self.act3(_resnet_closed(self, out, x))


def _inverted_residual(self: InvertedResidual, x: torch.Tensor) -> torch.Tensor:
    """timm's ``InvertedResidual.forward`` (with a skip) with the addition through ``Sum``."""
    out = x
    if self.conv_s2d is not None:
        out = self.bn_s2d(self.conv_s2d(out))
    out = self.se(self.aa(self.bn2(self.conv_dw(self.bn1(self.conv_pw(out))))))
    out = self.bn3(self.conv_pwl(out))
    return _summed(self, self.drop_path(out), x)


def _depthwise_separable(self: DepthwiseSeparableConv, x: torch.Tensor) -> torch.Tensor:
    """timm's ``DepthwiseSeparableConv.forward`` (with a skip) with the addition through ``Sum``."""
    out = x
    if self.conv_s2d is not None:
        out = self.bn_s2d(self.conv_s2d(out))
    out = self.bn2(self.conv_pw(self.se(self.aa(self.bn1(self.conv_dw(out))))))
    return _summed(self, self.drop_path(out), x)


RESIDUAL_FORWARDS = {BasicBlock: _resnet_basic, Bottleneck: _resnet_bottleneck, InvertedResidual: _inverted_residual,
                     DepthwiseSeparableConv: _depthwise_separable}
"""timm's residual blocks (exact types) and their forward with the addition through ``Sum``."""


class TimmResidual(AttributeCanonizer):
    """timm's residual blocks with their addition through a ``zennit.layer.Sum`` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(self._attributes)

    @staticmethod
    def _attributes(_name: str, module: nn.Module) -> dict | None:
        forward = RESIDUAL_FORWARDS.get(type(module))
        if forward is None or not getattr(module, "has_skip", True):
            return None
        return {"forward": types.MethodType(forward, module), "canonizer_sum": Sum()}


def _units(module: nn.Module):
    """The model's leaves in registration order, a batch norm with children (timm's ``BatchNormAct2d``) as one."""
    children = list(module.children())
    if not children or isinstance(module, _BatchNorm):
        yield module
        return
    for child in children:
        yield from _units(child)


class MergeNormAct(MergeBatchNorm):
    """Folds each batch norm that has children (timm's ``BatchNormAct2d``: norm, then its activation) into the
    convolution or linear layer right before it; zennit's ``SequentialMergeBatchNorm`` folds the leaf ones."""

    def apply(self, root_module: nn.Module) -> list[Canonizer]:
        instances, last = [], None
        for unit in _units(root_module):
            if isinstance(unit, _BatchNorm) and any(True for _ in unit.children()) and \
                    isinstance(last, (nn.Conv2d, nn.Linear)):
                instance = self.copy()
                instance.register((last,), unit)
                instances.append(instance)
            last = unit
        return instances


def canonizers() -> list[Canonizer]:
    """Every canonizer the LRP method applies (each changes only the modules it recognises): zennit's
    torchvision ``ResNetCanonizer`` (leaf batch norms merged, torchvision's residual blocks through ``Sum``), then
    timm's batch-norm-with-activation merged and timm's residual blocks through ``Sum``."""
    return [ResNetCanonizer(), MergeNormAct(), TimmResidual()]
