"""Reproduce the StyleGAN paper's Tables 3 and 4 (thin entry point of `dmetrics tables`).

    python -m benchmarks.reproduce_tables --scale smoke --out benchmarks/results/smoke --threads 1 --device cpu
    python -m benchmarks.reproduce_tables --scale mini  --out /work/runs/tables-mini --threads 1
    python -m benchmarks.reproduce_tables --scale paper --out runs/tables-paper --data ffhq-1024/ \
        --classifier celebahq-classifiers/

The options are those of `dmetrics tables --help`; the code lives in reference_models/tables/ (cli/tables.py parses the options).
"""

from cli.tables import tables_cmd

if __name__ == "__main__":
    tables_cmd()
