"""Figures of the ``icl`` topic, each drawn from its JSON data only."""
