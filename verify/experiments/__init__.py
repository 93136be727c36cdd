"""Claims of each topic; importing this package registers them all."""

from verify.experiments import icl  # noqa: F401
