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
        _replace_dir(staging, directory)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _replace_dir(staging, directory, attempts=3):
    """Put `staging` in the place of `directory`: a re-run of the same night replaces its bundle, and two
    runs of one night at once leave one whole bundle, not a mix."""
    for attempt in range(attempts):
        shutil.rmtree(directory, ignore_errors=True)
        try:
            os.replace(staging, directory)
            return
        except OSError:  # the other run put its bundle there in between
            if attempt == attempts - 1:
                raise


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()
