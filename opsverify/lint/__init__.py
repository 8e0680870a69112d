"""Offline checks of a repository's monitoring configuration (pytest -m lint): pure analyses that read
files and return findings, never contact a live system. checks/test_lint.py runs them."""

from dataclasses import dataclass
from pathlib import Path

import yaml

from opsverify import yamlsafe


@dataclass(frozen=True)
class Finding:
    """One problem: the file (relative to the checkout), where in it (line and key path), what is wrong."""

    file: str
    where: str  # "line 12, limits_config.retention_period" or a key path alone
    problem: str

    def __str__(self):
        return f"{self.file} {self.where}: {self.problem}"


class LintError(ValueError):
    """A file the analyses cannot read (not YAML, not JSON); the text names it."""


@dataclass(frozen=True)
class Document:
    """A parsed YAML or JSON file with the line of every key path (tuple of keys and list indices)."""

    path: Path
    name: str  # as shown: relative to the checkout
    data: object
    lines: dict

    def line(self, keypath):
        """The line of `keypath` (or of its nearest ancestor that has one); 0 when none."""
        keypath = tuple(keypath)
        while keypath and keypath not in self.lines:
            keypath = keypath[:-1]
        return self.lines.get(keypath, 0)

    def at(self, keypath):
        """'line N, a.b[0].c' for a finding."""
        line = self.line(keypath)
        return (f"line {line}, " if line else "") + keypath_text(keypath)


def keypath_text(keypath):
    text = ""
    for part in keypath:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def load_document(path, root):
    """A YAML (or JSON: YAML reads it) file with its key lines."""
    path = Path(path)
    name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    try:
        text = path.read_text(encoding="utf-8")
        node = yamlsafe.compose(text)  # one parse, within the project's size and alias limits
        data = yamlsafe.construct(node)
    except (OSError, UnicodeDecodeError) as exc:
        raise LintError(f"{name}: cannot be read ({exc.__class__.__name__})") from None
    except yamlsafe.YamlTooBig as exc:
        raise LintError(f"{name}: not read: {exc}") from None
    except yaml.YAMLError as exc:
        # Where and what, never PyYAML's excerpt of the line: it may be a password's line.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise LintError(f"{name}: not valid YAML/JSON{where}: {getattr(exc, 'problem', None) or 'invalid'}") \
            from None
    lines = {}
    if node is not None:
        _walk(node, (), lines)
    return Document(path, name, data, lines)


def _walk(node, keypath, lines):
    lines.setdefault(keypath, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = keypath + (key.value,)
            lines[here] = key.start_mark.line + 1
            _walk(value, here, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, keypath + (index,), lines)
