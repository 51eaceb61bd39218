"""Atomic file writes: a temp file in the same folder, fsync, then rename over the target.

A reader (or a crash) sees either the old file or the new one, never half of one. With
overwrite=False the target is created exclusively: if another process made it meanwhile, the
write fails (WriteError) and that file is left as it is. Any OS error becomes a WriteError that
names the file and the reason (the CLI prints it as one line, exit 1).
"""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import WriteError


@contextmanager
def atomic_path(path, overwrite: bool = True):
    """Yield a temp path beside `path`; on success it becomes `path`, on error it is removed."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        yield Path(tmp)
        # like an ordinary new file (mkstemp makes it private); after the write, since some
        # writers (safetensors) replace the temp file rather than write into it
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _create_exclusive(tmp, path)
    except FileExistsError:
        raise WriteError(path, "already exists: another process wrote it meanwhile; "
                               "left as it is (use --force to overwrite)") from None
    except WriteError:
        raise
    except OSError as e:
        raise WriteError(path, f"cannot write ({e.strerror or e})") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _create_exclusive(tmp: str, path: Path) -> None:
    """Give `tmp`'s contents the name `path`, only if `path` does not exist (FileExistsError)."""
    try:
        os.link(tmp, path)  # atomic and exclusive; the finally above removes tmp
    except FileExistsError:
        raise
    except OSError as e:  # a file system without hard links: claim the name, then fill it
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        os.replace(tmp, path)


def write_bytes_atomic(path, data: bytes, overwrite: bool = True) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path, text: str, overwrite: bool = True) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)
