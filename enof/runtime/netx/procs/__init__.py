"""What Lava executes: its process-model discovery runs every .py file of this folder at each compile.

Only the SpikeTap process and its model live here; keep imports light (numpy, lava).
"""
