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


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type where it has none), for a one-line error."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


def not_utf8(path, error: UnicodeDecodeError) -> PeftkitError:
    """The one-line error for a text file in another encoding than UTF-8."""
    return PeftkitError(f"{path} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at position {error.start}): "
                        "re-save the file as UTF-8")


def not_utf8_file(path) -> PeftkitError:
    """``not_utf8`` for a file a library failed to decode, with the position in the whole file (readers that
    decode in chunks report it within a chunk)."""
    from pathlib import Path

    try:
        Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        return not_utf8(path, e)
    return PeftkitError(f"{path} is not UTF-8 text: re-save the file as UTF-8")


def read_user_text(path) -> str:
    """A text file the user handed over, as UTF-8 (whatever the locale says), or one clear line."""
    from pathlib import Path

    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise not_utf8(path, e) from None
