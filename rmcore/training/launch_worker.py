"""Worker side of `rmcore.training.launch.run_distributed`, run in each process as
`python -m rmcore.training.launch_worker JOB RESULT`.

Every process runs the pickled function (they all take part in training); only rank 0 writes the result,
atomically, so the launcher never reads half a file.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    job, result = Path(argv[0]), Path(argv[1])
    fn, args = pickle.loads(job.read_bytes())
    value = fn(*args)
    if int(os.environ.get("RANK", "0")) == 0:
        temp = result.with_name(f".{result.name}.{os.getpid()}.tmp")
        temp.write_bytes(pickle.dumps(value))
        os.replace(temp, result)
    shutdown_process_group()
    return 0


def shutdown_process_group() -> None:
    """Leave together and close gloo/NCCL before exit: a rank exiting with the group alive can abort
    ("terminate called without an active exception") while the other still talks to it."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
