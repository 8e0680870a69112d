"""A night's status from its checks' outcomes. Pure.

✅ every check passed; ⚠️ only warning checks failed, or a check could not run
(a check that could not see is never green); ❌ a critical check failed or errored.
"""

from dataclasses import dataclass

PASSED, WARNING, FAILED, PENDING = "passed", "warning", "failed", "pending"
GLYPHS = {PASSED: "✅", WARNING: "⚠️", FAILED: "❌", PENDING: "⏳"}
WORDS = {PASSED: "Successful", WARNING: "Successful with warnings", FAILED: "Failed", PENDING: "Pending"}
# A ✅ or ⚠️ night is a successful reset (the sign-off's legend); ❌ breaks the streak.
SUCCESSFUL = (PASSED, WARNING)
# How an issue line begins for a check that could not run, or whose failure a waiver covers.
ISSUE_PREFIXES = {"skipped": "not checked: ", "waived": "waived: "}
# The glyphs as a copy of the sign-off document may carry them, mis-decoded (UTF-8 read as Mac Roman;
# 🔄's first byte, F0, is Mac Roman's Apple logo, U+F8FF).
MANGLED = {"‚úÖ": "✅", "‚ö†Ô∏è": "⚠️", "‚ùå": "❌", "‚è≥": "⏳", "\uf8ffüîÑ": "🔄"}


@dataclass(frozen=True)
class CheckOutcome:
    nodeid: str
    name: str
    severity: str  # critical | warning
    outcome: str  # passed | failed | error | skipped | n/a (does not apply here) | waived
    reason: str = ""  # one line
    night: str = ""  # the night a --week run checked it for; "" = the run's own night
    counts_for_signoff: bool = False  # waived, and its waiver lets the night count for the sign-off


def night_status(outcomes):
    """The night's status; PENDING when nothing was checked."""
    outcomes = [o for o in outcomes if o.outcome != "n/a"]
    if not outcomes:
        return PENDING
    bad = [o for o in outcomes if o.outcome in ("failed", "error")]
    if any(o.severity == "critical" for o in bad):
        return FAILED
    if bad or any(o.outcome in ("skipped", "waived") for o in outcomes):
        return WARNING
    return PASSED


def issues(outcomes):
    """One line per check that did not pass, critical first."""
    order = {"critical": 0, "warning": 1}
    lines = []
    for o in sorted(outcomes, key=lambda o: order.get(o.severity, 2)):
        if o.outcome in ("passed", "n/a"):
            continue
        prefix = ISSUE_PREFIXES.get(o.outcome, "")
        lines.append(f"{prefix}{o.name}: {o.reason}" if o.reason else f"{prefix}{o.name}")
    return lines


def normalise_glyphs(text):
    """`text` with the mis-decoded glyphs read as what they are."""
    for mangled, glyph in MANGLED.items():
        text = text.replace(mangled, glyph)
    return text


def label(status):
    """'✅ Successful', as the sign-off document writes it."""
    return f"{GLYPHS[status]} {WORDS[status]}"
