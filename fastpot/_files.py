"""Writing files so that a crash never leaves a half-written one behind.

Every file is written to a temporary file in the same folder, flushed to disk and renamed
over the target (``os.replace`` is atomic on POSIX file systems): readers, and a run started
again after a kill, see the old file or the new one, never a part. When the write fails (a
full disk, a file-size limit, a folder without write permission) the temporary file is
removed, the old file is left as it was, and the error names the file.
"""
import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def replacing(path):
    """A temporary path beside `path` (same suffix, so that writers choosing a format by
    suffix still do) to write to; on leaving the block without an error it is renamed over
    `path`. Errors are raised as OSError naming `path`."""
    path = Path(path)
    folder = path.parent
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.",
                                             suffix=f".tmp{path.suffix}")
        os.close(handle)
    except OSError as error:
        raise _named(error, path) from None
    try:
        # mkstemp makes the file private (0600); give it the mode open() would have
        os.chmod(temporary, 0o666 & ~_umask())
        yield temporary
        _fsync(temporary)
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise _named(error, path) from None
        raise
    _fsync_folder(folder)


def atomic_write(path, data):
    """Write `data` (str or bytes) to `path` atomically (see the module's docstring)."""
    mode = "wb" if isinstance(data, bytes) else "w"
    with replacing(path) as temporary:
        with open(temporary, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
            f.write(data)


def append(path, text):
    """Append `text` to `path` in one write (a kill leaves what came before whole); errors
    name the file."""
    try:
        with open(path, "ab") as f:
            f.write(text.encode("utf-8"))
    except OSError as error:
        raise _named(error, path, replaced=False) from None


def _named(error, path, replaced=True):
    """The same kind of OSError (same errno) with a message that names the target file (and,
    for a replacement, that the previous file is unchanged)."""
    message = f"cannot write {path}: {error.strerror or error}"
    if replaced:
        message += f" (any previous {Path(path).name} is unchanged)"
    return OSError(error.errno, message) if error.errno else OSError(message)


def _umask():
    try:  # Linux shows it without changing it (os.umask would, for every thread)
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _fsync(name):
    with open(name, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_folder(folder):
    """Make the rename itself durable (a crash of the machine right after keeps it)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:  # some file systems cannot sync a folder; the rename is done anyway
        pass
    finally:
        os.close(handle)
