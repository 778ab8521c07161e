"""Lava processes and builders only: lava executes every .py here to discover ProcessModels; keep imports light."""
