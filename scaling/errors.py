"""Typed errors. Library code raises these; the CLI turns them into one line and exit code 2."""


class ScalingError(Exception):
    """Base of every error a user can cause with bad input."""


class ConfigError(ScalingError):
    """A config file, key, value or output folder is wrong."""


class DataError(ScalingError):
    """Input data (records, CSV, run directories) is missing or malformed."""


class FitError(ScalingError):
    """A fit cannot be made from the given data, or did not converge."""
