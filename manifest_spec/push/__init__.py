"""The push: resolution, scheduling per host, placement of children, the engine's rounds."""
