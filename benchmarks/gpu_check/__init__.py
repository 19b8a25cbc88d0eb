"""A prepared GPU check (issue 17): ``python -m benchmarks.gpu_check --out DIR`` (``make gpu-check``).

Runs the GPU-marked tests, measures paper-scale throughput with random weights, checks a metric
under torchrun/NCCL against a single-process run and writes ``gpu_check.json`` and ``gpu_check.md``,
each step in its own process under a hard time budget. ``--smoke`` runs the same steps at tiny sizes
on the CPU. Modules: :mod:`.run` (the runner), :mod:`.steps` and :mod:`.gpu_tests` (the steps),
:mod:`.adapters` (every call into the project), :mod:`.plan` (sizes, budgets, V100 times),
:mod:`.report` (extrapolation, Markdown), :mod:`.record`, :mod:`.dist_probe`, :mod:`.wheels`.
This file imports nothing, so ``python -m benchmarks.gpu_check.wheels`` needs no torch.
"""
