"""manifest-spec: push multi-platform container images from a declarative spec."""

__version__ = "0.1.0"
