"""The benchmarks' ``--set key=value`` option: changes to a settings dataclass, read by type."""

from __future__ import annotations

from dataclasses import fields


def parse_changes(pairs: list[str], settings_type, extra: dict[str, int] | None = None):
    """``key=value`` pairs -> (changes to ``settings_type``'s fields, a copy of ``extra``
    with its int entries replaced). Each value is read as the type of the field's default:
    bools from 1/true/yes, tuples from comma-separated floats."""
    defaults = settings_type()
    names = {f.name for f in fields(settings_type)}
    changes, extra = {}, dict(extra or {})
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key in extra:
            extra[key] = int(value)
        elif key in names:
            current = getattr(defaults, key)
            if isinstance(current, bool):
                changes[key] = value.lower() in {"1", "true", "yes"}
            elif isinstance(current, tuple):
                changes[key] = tuple(float(x) for x in value.split(","))
            else:
                changes[key] = type(current)(value)
        else:
            raise SystemExit(f"unknown setting {key!r}; use one of {sorted(names | set(extra))}")
    return changes, extra
