"""Dashboard widgets. Each shows one part of the view model and never computes metrics.

Imported from their modules (`engmon.tui.widgets.header`, ...): the header and the plain
lines need no polars, so the first frame can be drawn before it is imported.
"""
