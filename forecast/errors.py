"""The error users see when their data cannot be forecast as given."""

__all__ = ["ForecastDataError"]


class ForecastDataError(ValueError):
    """Input data that the framework refuses rather than repairs silently.

    The message names the column, series, row or time at fault, and the fix.
    """
