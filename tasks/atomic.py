"""Atomic writes: readers see the old file (or folder) or the whole new one, never a part.

One helper for every result the pipeline publishes: checkpoint markers, metrics, store files,
quarantine files, the tokenized cache and the servers record. The content goes to a temporary name
beside the target (same file system), is flushed to disk, then renamed over the target.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

Content = str | bytes | Callable[[Path], None]


def write_atomic(path: str | Path, content: Content) -> Path:
    """Write `content` to `path` atomically: text, bytes, or a writer called with the temporary path.

    A writer may create a file or a folder there (e.g. `df.to_parquet`, `dataset.save_to_disk`).

    Raises:
        OSError: the write or the rename failed (the temporary is removed; the target is as it was).
    """
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if callable(content):
            content(temp)
        else:
            with open(temp, "wb") as handle:
                handle.write(content.encode("utf-8") if isinstance(content, str) else content)
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)
        raise
    return path
