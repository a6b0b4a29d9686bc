"""Shared by every test: run ``device="auto"`` on the CPU, in this process and the subprocesses it starts.

The learning, resume (bit-exact) and stored-output tests state what was measured on CPUs; on a GPU machine
``auto`` would pick CUDA, whose kernels round differently and whose cuDNN LSTM backward is not bitwise
reproducible. The CUDA path has its own tests, which name ``device="cuda"`` and skip without a GPU.
"""
import os

os.environ.setdefault("RDQN_DEVICE", "cpu")
