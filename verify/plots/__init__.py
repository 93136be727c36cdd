"""Drawing functions, one module per topic; each draws a figure from its JSON data only."""

from verify.plots import icl  # noqa: F401
from verify.plots import memory_cabannes, memory_memories, memory_sequential, memory_transformer  # noqa: F401
from verify.plots import recall  # noqa: F401
from verify.plots import recall_mqar  # noqa: F401
from verify.plots import selective  # noqa: F401
from verify.plots import selective_trained  # noqa: F401
