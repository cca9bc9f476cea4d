"""The limits a spec and the job options share: a spec's ``seed`` and ``copies`` accept
what ``--seed`` and ``--copies`` accept. They live below both, so that the spec need not
import the options (which read specs) to know them."""

MAX_SEED = 2**63 - 1
"""The largest seed (a spec's ``seed``, ``--seed``)."""
MAX_COPIES = 1000
"""The most copies per input (a spec's ``copies``, ``--copies``)."""
