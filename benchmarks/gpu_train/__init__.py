"""Train the reference generators on a GPU within one 10-minute command (issue 28): ``make gpu-train``.

``python -m benchmarks.gpu_train --out DIR`` trains the demo generator's recipe and as many of the 9
mini presets x 3 seeds (the tables' mini scale, float32) as fit in ``--budget-s``, several trainings
at once as processes sharing the GPU (small networks leave a GPU idle). A probe wave measures each
job kind's throughput under that sharing in its first seconds (and what bf16 would buy); the kimg
of every job is then sized so that the waves end inside the budget. A worker still running at the
deadline gets Ctrl-C (the trainer checkpoints after its current group). The generators (G_ema
only), training logs and configs come back packed in ``gpu_train_pack-<i>.tar`` files of at most
``--max-bytes`` each (one when it fits), beside ``gpu_train.json``; see ``UNPACK`` in that report.

``--smoke`` runs the same pipeline on the CPU at the smoke scale in well under a minute.
Modules: :mod:`.run` (plan, scheduler, packing), :mod:`.worker` (one training in its own process).
"""
