"""Task-level workloads for the attention backends.

* :mod:`a3sim.tasks.wordnet`: real labelled text from WordNet 3.0 embedded with MiniLM: word-sense
  matching, definition retrieval among 300 synsets, and large-n retrieval (thousands of keys).
* :mod:`a3sim.tasks.synthetic`: planted-key and uniform random workloads for scaling studies.

Every WordNet task takes ``attention`` (an :class:`a3sim.nn.attention.AttentionBackend`; None is
exact host attention) and returns a :class:`TaskResult`.
"""

from a3sim.tasks.synthetic import PlantedResult, alpha_table, planted, planted_hits, planted_mass, run_planted, uniform
from a3sim.tasks.wordnet import (
    DEFAULT_BETA,
    TaskResult,
    definition_retrieval,
    embed,
    large_n_retrieval,
    load_subset,
    sense_matching,
)

__all__ = [
    "DEFAULT_BETA",
    "PlantedResult",
    "TaskResult",
    "alpha_table",
    "definition_retrieval",
    "embed",
    "large_n_retrieval",
    "load_subset",
    "planted",
    "planted_hits",
    "planted_mass",
    "run_planted",
    "sense_matching",
    "uniform",
]
