"""The evidence bundle: one directory to attach to the ticket, with a manifest that `sha256sum -c` checks."""

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

MANIFEST = "SHA256SUMS"


class BundleError(Exception):
    """The bundle cannot be written; the text says why."""


def write_bundle(directory, files, texts):
    """Write `directory` afresh: copies of `files` ({name: source path}), the `texts` ({name: str, UTF-8})
    and SHA256SUMS over all of them. The directory appears whole or not at all; return its path."""
    directory = Path(directory)
    missing = [f"{name} ({source})" for name, source in files.items() if not source or not Path(source).is_file()]
    if missing:
        raise BundleError(f"{directory}: not written, these outputs do not exist: {', '.join(missing)}")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        for name, source in files.items():
            shutil.copyfile(source, staging / name)
        for name, text in texts.items():
            (staging / name).write_text(text, encoding="utf-8")
        names = sorted(list(files) + list(texts))
        # The format of coreutils' sha256sum: digest, two spaces (text mode), name.
        (staging / MANIFEST).write_text("".join(f"{_sha256(staging / n)}  {n}\n" for n in names), encoding="utf-8")
        if directory.exists():  # a re-run of the same night replaces its bundle
            shutil.rmtree(directory)
        os.replace(staging, directory)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()
