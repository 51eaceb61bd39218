import os

# One torch thread: the suite's models are tiny, and on a busy 2-core machine OpenMP threads
# spinning against other processes make small ops ten times slower. Also deterministic.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

torch.set_num_threads(1)

# Deterministic property tests: the same examples on every run and every machine.
settings.register_profile("composer", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "composer"))
