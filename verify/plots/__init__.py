"""Drawing functions, one module per topic; each draws a figure from its JSON data only."""

from verify.plots import icl  # noqa: F401
from verify.plots import recall  # noqa: F401
from verify.plots import selective  # noqa: F401
