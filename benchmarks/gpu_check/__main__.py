"""``python -m benchmarks.gpu_check``: see :mod:`benchmarks.gpu_check.run`."""

import sys

from .run import main

sys.exit(main())
