"""The number types of the command's options.

Every number option takes its value through :func:`augment.options.number`: finite, in
range, the flag and the range named when refused (nan compared false with every limit,
switching it off).
"""

from __future__ import annotations

from augment.options import MAX_COPIES, MAX_SEED, number

positive_int = number(min=1, integer=True)
WORKERS = number(min=1, max=1024, integer=True)
INSTANCES = number(min=1, max=100, integer=True)  # SageMaker Processing's most instances per job
COPIES = number(min=1, max=MAX_COPIES, integer=True)
SEED = number(min=0, max=MAX_SEED, integer=True)
COUNT = number(min=1, max=10**12, integer=True)  # images, batch sizes: large, but never past a float's exactness
LINE = number(min=-10**12, max=10**12, integer=True)  # a manifest line: replay says which there are
USD = number(min=0)
