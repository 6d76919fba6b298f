"""Dashboard screens: the dashboard itself and the help screen."""

from engmon.tui.screens.dashboard import DashboardScreen
from engmon.tui.screens.help import HelpScreen

__all__ = ["DashboardScreen", "HelpScreen"]
