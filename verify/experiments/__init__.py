"""Claims of each topic; importing this package registers them all."""

from verify.experiments import icl  # noqa: F401
from verify.experiments import memory  # noqa: F401
from verify.experiments import recall  # noqa: F401
from verify.experiments import selective  # noqa: F401
