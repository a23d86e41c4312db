"""Writing files so that a crash never leaves a half-written one behind."""
import os
import tempfile
from pathlib import Path


def atomic_write(path, data):
    """Write `data` (str or bytes) to `path` through a temporary file in the same folder,
    flushed to disk and renamed over the target: readers see the old file or the new one."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    handle, temporary = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
