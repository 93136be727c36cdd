"""capdyn.verify — torch tasks, models and trainers; the claims registry, records, figures and the CLI."""

__version__ = "0.1.0"
