"""The attribution methods: one :class:`~.explainer.Explainer` interface, the registry (:mod:`.registry`) and
one module per method."""
