"""Dashboard screens: the dashboard, its opening frame, help, compare and observations.

Imported from their modules: the opening frame and help need no polars, the dashboard does.
"""
