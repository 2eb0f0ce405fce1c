"""Errors peftkit raises on purpose. Each carries a message that names the problem and the fix."""


class PeftkitError(Exception):
    """Base class: a problem with the user's input or environment, reported as one clear line."""


class UnknownStrategyError(PeftkitError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class OptionError(PeftkitError, ValueError):
    """An unknown option or a bad option value."""


class SpecError(OptionError):
    """A malformed strategy SPEC string (``name:key=value,...``)."""


class UnsupportedError(PeftkitError):
    """A strategy cannot apply to a model's architecture."""

    def __init__(self, strategy: str, architecture: str, reason: str):
        self.strategy, self.architecture, self.reason = strategy, architecture, reason
        super().__init__(f"strategy '{strategy}' cannot apply to {architecture}: {reason}")


class UpstreamError(UnsupportedError):
    """An installed dependency (transformers, peft...) no longer offers what a strategy needs, and peftkit
    has no way around it. The message names the package versions, so a bug report can be precise."""

    def __init__(self, strategy: str, architecture: str, reason: str, packages: tuple[str, ...]):
        from importlib.metadata import PackageNotFoundError, version

        def installed(name: str) -> str:
            try:
                return f"{name} {version(name)}"
            except PackageNotFoundError:
                return f"{name} (not installed)"

        self.packages = tuple(installed(p) for p in packages)
        super().__init__(strategy, architecture, f"{reason} (with {', '.join(self.packages)})")
