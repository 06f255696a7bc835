"""Streamlit capacity-planning dashboard (pages read run directories and the store; they compute nothing heavy)."""

from pathlib import Path


def app_path() -> Path:
    """The Streamlit entry script."""
    return Path(__file__).with_name("app.py")
