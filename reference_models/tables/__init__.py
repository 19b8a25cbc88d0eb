"""The paper's Tables 3 and 4 reproduced with the reference models: train every preset, score it,
report tables and claims (``dmetrics tables`` is the command line of :func:`reproduce`).

Modules: :mod:`.paper` (the paper's rows and claims as data), :mod:`.scale` (smoke / mini / paper),
:mod:`.run` (training and scoring one seed, resumable), :mod:`.seeds` (mean +- spread over seeds),
:mod:`.report` (CSV, Markdown, LaTeX, PNG), :mod:`.export` (the light outputs to commit),
:mod:`.pipeline` (all of it in one call: :func:`reproduce`).
"""

from .pipeline import reproduce

__all__ = ["reproduce"]
