"""CLIP-Dissect (Oikarinen & Weng, ICLR 2023): label each neuron with the concept its top images show.

The algorithms live in their own modules, importable without the stage: :mod:`xai_report.activations` (below both
stages), :mod:`.clip_text`, :mod:`.wpmi` (soft-WPMI labels), :mod:`.null` (the null threshold), :mod:`.importance`,
:mod:`.categories` and :mod:`.summaries`. :mod:`.stage` runs them over a study. This file imports nothing, so that
importing one of them does not import (and fingerprint) the others.
"""
