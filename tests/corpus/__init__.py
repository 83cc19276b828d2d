"""The hostile and broken input corpus (see README.md in this folder)."""
