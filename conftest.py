"""Collection settings for the whole repository (tests/conftest.py holds the Hypothesis profiles)."""

import importlib.util

# The Dask bridge is an optional extra: its examples run only where Dask is installed.
collect_ignore = [] if importlib.util.find_spec("dask") else ["bbans_numba/on_dask.py"]
