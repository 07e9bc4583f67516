"""Regeneration: Kino task requests from frames, overrides, submission, presets."""
