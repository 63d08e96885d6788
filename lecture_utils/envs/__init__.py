"""Environments: Gymnasium-style single environments and batched tensor versions of the same dynamics."""
