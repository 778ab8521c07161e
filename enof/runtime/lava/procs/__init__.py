"""What Lava executes: its process-model discovery runs every .py file of this folder at each compile.

Only the CountingLIF process and its two models live here; keep imports light (numpy, lava).
"""
