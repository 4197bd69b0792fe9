"""The "neurons behind this prediction" section of an image page: labels joined from the dissection, and its
sentences. The numbers (each unit's contribution to the explained logit) come from the attribution stage
(``images[].neurons``); a unit's label comes from the dissection section when the same model and layer were
dissected, so the two halves of the study meet on the page without either stage knowing of the other.
"""

from __future__ import annotations


def unit_labels(results: dict, model_key: str, layer: str) -> dict[int, dict]:
    """``{unit: {"label", "semantic"}}`` of ``layer`` of ``model_key`` from the dissection section ({} when that
    layer was not dissected)."""
    for model in (results.get("dissection") or {}).get("models", []):
        if model.get("key") != model_key:
            continue
        for info in model.get("layers", []):
            if info.get("name") == layer:
                return {u["unit"]: {"label": u["label"], "semantic": u.get("semantic", False)}
                        for u in info.get("units", [])}
    return {}


def coverage(neurons: dict) -> str:
    """How much of the positive evidence the listed units carry, said plainly (the representation is usually
    distributed, and the page must not suggest that a few named units explain the prediction)."""
    shown, share = len(neurons["units"]), neurons["shown_share"]
    if share is None:
        return "No unit of this layer gives positive evidence for the explained class."
    rest = neurons["units_positive"] - sum(1 for u in neurons["units"] if u["contribution"] > 0)
    if share >= 0.5:
        return (f"These {shown} units carry {100 * share:.0f}% of the positive evidence; "
                f"{rest} other units share the rest.")
    return (f"These {shown} units carry only {100 * share:.0f}% of the positive evidence; the other {rest} "
            f"positive units carry the rest: the evidence is spread over many units, so no handful of named "
            f"neurons explains this prediction.")
