"""Parallel and distributed training (Chapter 7): actors that run :class:`~rdqn_core.rollout.Rollout`.

Empty until Chapter 7 lands. It sits above the trainer and below the command line.
"""
__all__: list[str] = []
