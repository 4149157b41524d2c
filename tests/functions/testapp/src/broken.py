"""Fails at import, as a deploy with a bad dependency would."""

raise RuntimeError("this function cannot start")
