"""rdqn_core: deep recurrent Q-learning for partially observed gymnasium environments.

The package behind the book *Remember to Act*. Its folders are its layers, lowest first;
each module imports only from layers below it (``tests/test_architecture.py`` checks it):

* ``types``, ``utils`` - the recurrent state, batches, constants; device and seeding;
* ``envs/`` - partial-observability wrappers, frame stacking, the env factory (no torch);
* ``config`` - the frozen :class:`TrainConfig`;
* ``networks/`` - normalizer, MLP and recurrent Q-networks, heads;
* ``losses``, ``replay`` - the n-step return and TD losses; sequence replay;
* ``rollout`` - the one acting loop; ``agent`` - act, update, target sync;
* ``checkpoint``, ``trainer`` - files and resumable runs; the training loop and evaluation;
* ``parallel/`` - actors and learners (Chapter 7);
* ``instruments/`` - the chapters' measurements (the core never imports them);
* ``display`` (matplotlib only), ``benchmark``, ``cli``.

This module only re-exports the book's vocabulary.
"""
from .agent import QAgent, epsilon_at
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig, config_from_dict, describe_config
from .envs import (FLICKER_CARTPOLE_ID, MASKED_CARTPOLE_ID, STACKED_MASKED_CARTPOLE, STACKED_MASKED_CARTPOLE_ID,
                   FlickerObservation, KeepObservationIndices, MaskVelocity, check_spaces, make_env, make_frame_stacked,
                   make_vector_env, masked_cartpole_stacked)
from .instruments import (ClipComparison, ExtraExits, GreedyPath, StalenessReport, collect_experience, compare_clipping,
                          fit_log_slope, greedy_path, hidden_state_gradient_norms, hidden_state_staleness,
                          linear_probe_r2, loss_spikes, q_discrepancy, q_learning, recall_task, recall_task_layout,
                          scale_recurrent_weights, stability_summary, trace_episode, value_iteration)
from .losses import double_q_bootstrap, max_q_bootstrap, n_step_return_parts, n_step_targets, n_step_td_targets, td_loss
from .instruments import acting_and_update_times, amdahl_speedup, scaling_run, vector_env_throughput
from .parallel import (DataParallelAgent, MultiprocessingTransport, RateLimiter, ShardedReplay, train_actor_learner,
                       train_data_parallel)
from .envs import SLOW_MASKED_CARTPOLE, SlowStep
from .networks import MLPQNetwork, ObservationNormalizer, RecurrentQNetwork, build_q_network
from .replay import SequenceReplay, TransitionReplay
from .rollout import Rollout, Transition, act_epsilon_greedy
from .trainer import TrainResult, build_agent, evaluate, train
from .types import CELL_TYPES, NStepParts, RecurrentState, SequenceBatch
from .utils import get_device, seed_everything

__version__ = "0.2.0"

__all__ = [
    "QAgent", "epsilon_at",
    "TrainConfig", "config_from_dict", "describe_config",
    "FLICKER_CARTPOLE_ID", "MASKED_CARTPOLE_ID", "STACKED_MASKED_CARTPOLE_ID", "FlickerObservation",
    "KeepObservationIndices", "MaskVelocity", "check_spaces", "make_env", "make_vector_env",
    "n_step_td_targets", "n_step_return_parts", "n_step_targets", "max_q_bootstrap", "double_q_bootstrap", "td_loss",
    "NStepParts", "CELL_TYPES", "MLPQNetwork", "ObservationNormalizer", "RecurrentQNetwork", "RecurrentState",
    "build_q_network",
    "SequenceBatch", "SequenceReplay", "TransitionReplay",
    "Rollout", "Transition", "act_epsilon_greedy",
    "TrainResult", "build_agent", "evaluate", "load_checkpoint", "save_checkpoint", "train",
    "get_device", "seed_everything",
    "ExtraExits", "GreedyPath", "greedy_path", "q_learning", "value_iteration",
    "ClipComparison", "compare_clipping", "fit_log_slope", "hidden_state_gradient_norms", "loss_spikes",
    "scale_recurrent_weights", "stability_summary",
    "recall_task", "recall_task_layout",
    "STACKED_MASKED_CARTPOLE", "make_frame_stacked", "masked_cartpole_stacked",
    "StalenessReport", "collect_experience", "hidden_state_staleness", "linear_probe_r2", "q_discrepancy", "trace_episode",
]

# Chapter 9: the regime market and its baselines and metrics
from .envs import (DEFAULT_MARKET, REGIME_MARKET_ID, MarketParams, RegimeMarketEnv, market_paths,  # noqa: E402
                   two_regime_params)
from .instruments import (backtest, buy_and_hold_positions, filter_positions, fit_markov_switching,  # noqa: E402
                          hamilton_filter, linear_probe_accuracy, max_drawdown, memoryless_positions,
                          momentum_positions, oracle_positions, play_market, sharpe_ratio, strategy_returns)

__all__ += [
    "DEFAULT_MARKET", "REGIME_MARKET_ID", "MarketParams", "RegimeMarketEnv", "market_paths", "two_regime_params",
    "backtest", "buy_and_hold_positions", "filter_positions", "fit_markov_switching", "hamilton_filter",
    "linear_probe_accuracy", "max_drawdown", "memoryless_positions", "momentum_positions", "oracle_positions",
    "play_market", "sharpe_ratio", "strategy_returns",
]
__all__ += ["RateLimiter", "MultiprocessingTransport", "ShardedReplay", "train_actor_learner", "DataParallelAgent",
            "train_data_parallel", "SLOW_MASKED_CARTPOLE", "SlowStep", "vector_env_throughput",
            "acting_and_update_times", "amdahl_speedup", "scaling_run"]  # Chapter 7
# Chapter 8: Minesweeper, its reference players and the board network
from .envs import (MINESWEEPER_ID, MINESWEEPER_MEMORY_ID, MinesweeperEnv, MinesweeperGame,  # noqa: E402
                   MinesweeperMemoryEnv, board_symmetries, board_tensor)
from .instruments import (PLAYERS, auroc, expected_calibration_error, greedy_player, logic_player, mine_probabilities, play_game,  # noqa: E402
                          random_player, win_rate, QNetworkPlayer, record_forecast_game, forecast_arrays)
from .networks import ConvQNetwork  # noqa: E402

__all__ += ["MINESWEEPER_ID", "MINESWEEPER_MEMORY_ID", "MinesweeperEnv", "MinesweeperGame", "MinesweeperMemoryEnv",
            "board_tensor", "PLAYERS", "greedy_player", "logic_player", "mine_probabilities", "play_game",
            "random_player", "win_rate", "ConvQNetwork", "auroc", "expected_calibration_error", "QNetworkPlayer",
            "record_forecast_game", "forecast_arrays", "board_symmetries"]
