"""The measures of the explanations, by family (Quantus's six: faithfulness, robustness, localisation, complexity,
randomisation, axiomatic), with what they share (:mod:`.maps`, :mod:`.perturbation`) and the per-image orchestration
(:mod:`.per_image`, :mod:`.map_measures`)."""
