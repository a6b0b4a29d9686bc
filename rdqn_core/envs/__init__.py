"""Environments: partial-observability wrappers, frame stacking, the env factory (Chapters 1 and 4) and
the Markov-switching market (Chapter 9).

numpy and gymnasium only; nothing here imports torch (a test checks it).
"""
from ..types import FLICKER_CARTPOLE_ID, MASKED_CARTPOLE_ID, REGIME_MARKET_ID, STACKED_MASKED_CARTPOLE_ID
from .market import (DEFAULT_MARKET, POSITIONS, MarketParams, RegimeMarketEnv, market_paths, simulate_regime_path,
                     stationary_distribution, two_regime_params)
from .partial import FlickerObservation, KeepObservationIndices, MaskVelocity
from .registry import EnvSpec, JointActionIndex, check_spaces, discretize_actions, make_env, make_vector_env
from .stacking import (FRAME_PADDINGS, STACKED_MASKED_CARTPOLE, flicker_cartpole_stacked, make_frame_stacked,
                       masked_cartpole_stacked)
from .slow import SLOW_MASKED_CARTPOLE, SlowStep, slow_masked_cartpole

__all__ = ["KeepObservationIndices", "MaskVelocity", "FlickerObservation", "make_env", "make_vector_env",
           "check_spaces", "EnvSpec", "make_frame_stacked", "masked_cartpole_stacked", "FRAME_PADDINGS",
           "MASKED_CARTPOLE_ID", "FLICKER_CARTPOLE_ID", "STACKED_MASKED_CARTPOLE_ID", "STACKED_MASKED_CARTPOLE",
           "flicker_cartpole_stacked", "REGIME_MARKET_ID", "DEFAULT_MARKET", "POSITIONS", "MarketParams",
           "RegimeMarketEnv", "market_paths", "simulate_regime_path", "stationary_distribution", "two_regime_params"]
__all__ += ["SlowStep", "slow_masked_cartpole", "SLOW_MASKED_CARTPOLE"]  # Chapter 7
from ..types import MINESWEEPER_ID, MINESWEEPER_MEMORY_ID  # noqa: E402
from .minesweeper import (BOARD_CHANNELS, FIRST_CLICK_RULES, MinesweeperEnv, MinesweeperGame,  # noqa: E402
                          MinesweeperMemoryEnv, board_symmetries, board_tensor, check_board, neighbour_counts,
                          symmetry_permutations)

__all__ += ["MINESWEEPER_ID", "MINESWEEPER_MEMORY_ID", "BOARD_CHANNELS", "FIRST_CLICK_RULES", "MinesweeperEnv",
            "MinesweeperGame", "MinesweeperMemoryEnv", "board_tensor", "check_board", "neighbour_counts",
            "board_symmetries", "symmetry_permutations"]  # Chapter 8
from ..types import ANGLE_PENDULUM_ID, NOISY_ANGLE_PENDULUM_ID, PLANAR_REACHER_ID  # noqa: E402
from .control import PENDULUM_COS_SIN, GaussianObservationNoise, PlanarReacherEnv, angle_pendulum  # noqa: E402
from .stacking import angle_pendulum_stacked  # noqa: E402

__all__ += ["ANGLE_PENDULUM_ID", "NOISY_ANGLE_PENDULUM_ID", "PLANAR_REACHER_ID", "PENDULUM_COS_SIN",
            "GaussianObservationNoise", "PlanarReacherEnv", "angle_pendulum", "angle_pendulum_stacked", "JointActionIndex",
            "discretize_actions"]  # Chapter 6
