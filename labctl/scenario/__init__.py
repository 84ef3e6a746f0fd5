"""Scripted experiments: scenario files, their validation, and the engine that runs them."""
