"""User-facing errors: one line that names the culprit and the fix."""


class XaiReportError(Exception):
    """An error caused by the user's input; the CLI prints it as one line, without a traceback."""


class ConfigError(XaiReportError):
    """The study config is invalid (unknown key, wrong type, missing file, unknown model/method/layer)."""


class WeightsUnavailable(XaiReportError):
    """A weight file is missing and cannot be downloaded (offline or unreachable)."""


class BadInput(XaiReportError):
    """An input file (image, concept list, checkpoint) cannot be used."""
