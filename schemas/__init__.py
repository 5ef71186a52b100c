"""The JSON Schema of spec files, shipped as package data (read with importlib.resources)."""
