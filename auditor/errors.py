"""The errors subinterp-audit raises; the CLI maps each to a one-line message and exit code 2."""

from __future__ import annotations


class AuditorError(Exception):
    """Base class: something prevents the scan itself (never a finding about a module)."""


class TargetError(AuditorError):
    """Raised when ``--python`` names no usable interpreter, or it cannot describe itself."""


class HelperBuildError(AuditorError):
    """Raised when the C helper cannot be compiled for the target (no compiler, no headers)."""


class SelectionError(AuditorError):
    """Raised when ``--package``/``--module``/PATH select nothing, or a PATH does not exist."""


class ReportError(AuditorError):
    """Raised when a report cannot be written (the previous file, if any, is left intact)."""


class ConfigError(AuditorError):
    """Raised when [tool.subinterp-audit] in pyproject.toml is invalid (names the key)."""


class UsageError(AuditorError):
    """Raised when options contradict each other or name something unusable (a baseline that
    does not exist, an output that cannot be written)."""


class InstallError(AuditorError):
    """Raised when a wheel or a requirement cannot be installed into a throwaway venv."""
