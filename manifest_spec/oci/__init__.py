"""The pure model: references, platforms, manifests and index bytes. No I/O."""
