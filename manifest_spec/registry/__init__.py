"""Talking to registries: client, transport, deadlines, auth, credentials, the upload protocol."""
