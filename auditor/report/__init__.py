"""Renderers: JSON (the contract), terminal; all from the same model."""
