"""engmon: a terminal campaign monitor that answers "is the link I shared working?"."""

__version__ = "0.1.0"
