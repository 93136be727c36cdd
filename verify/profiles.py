"""Validated run configurations: each claim owns a pydantic config whose defaults are the ``smoke`` profile.

A profile is a named set of overrides on those defaults (``paper`` = the paper's scale). ``--set key=value``
overrides are parsed (JSON where possible, else a string) and validated by the same model, so an unknown key or
a value of the wrong type is an error, never silently ignored.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

PROFILES = ("smoke", "paper")


class UsageError(ValueError):
    """Bad usage or input: the CLI prints its message on one line and exits with status 2."""


class ClaimConfig(BaseModel):
    """Base of every claim's configuration. Fields are the knobs of its runs; defaults are the smoke profile."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split ``key=value``; the value is read as JSON when it parses (numbers, lists, true/false), else as text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"--set expects key=value, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def resolve(config_cls: type[ClaimConfig], profiles: dict[str, dict], profile: str,
            overrides: dict[str, Any], claim_id: str) -> ClaimConfig:
    """Build the config of one claim: defaults, then the profile's overrides, then the user's ``--set`` values."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    values = dict(profiles.get(profile, {}))
    values.update({k: v for k, v in overrides.items() if k in config_cls.model_fields})
    try:
        return config_cls(**values)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "config"
        raise UsageError(f"{claim_id}: invalid value for {loc!r}: {first['msg']}") from None
