"""Chapter instruments: measurements the book makes, built on the core and never imported by it.

* :mod:`.tasks` (Chapter 2): the delayed-recall task;
* :mod:`.tabular` (Chapter 3): tabular Q-learning and value iteration;
* :mod:`.gradients` (Chapter 5): hidden-state gradient norms, clipping, loss spikes;
* :mod:`.diagnostics` (Chapter 4): collecting experience, stored-state staleness, tracing, probes;
* :mod:`.finance` (Chapter 9): the regime market's baselines (Hamilton filter, momentum, oracle) and metrics.
* :mod:`.control` (Chapter 6): a pendulum swing-up controller, torque levels and velocity estimators;
* :mod:`.throughput` (Chapter 7): vector-env throughput, acting and update times, the Amdahl budget.
"""
from .diagnostics import StalenessReport, collect_experience, hidden_state_staleness, linear_probe_r2, q_discrepancy, trace_episode
from .finance import (backtest, buy_and_hold_positions, filter_positions, fit_markov_switching, hamilton_filter,
                      linear_probe_accuracy, max_drawdown, memoryless_positions, momentum_positions, oracle_positions,
                      play_market, sharpe_ratio, strategy_returns)
from .gradients import (ClipComparison, compare_clipping, fit_log_slope, hidden_state_gradient_norms, loss_spikes,
                        scale_recurrent_weights, stability_summary)
from .tabular import ExtraExits, GreedyPath, greedy_path, q_learning, value_iteration
from .tasks import recall_task, recall_task_layout
from .throughput import acting_and_update_times, amdahl_speedup, scaling_run, vector_env_throughput

__all__ = ["StalenessReport", "collect_experience", "hidden_state_staleness", "linear_probe_r2", "q_discrepancy",
           "trace_episode", "ClipComparison", "compare_clipping", "fit_log_slope", "hidden_state_gradient_norms",
           "loss_spikes", "scale_recurrent_weights", "stability_summary", "ExtraExits", "GreedyPath", "greedy_path",
           "q_learning", "value_iteration", "recall_task", "recall_task_layout",
           "backtest", "buy_and_hold_positions", "filter_positions", "fit_markov_switching", "hamilton_filter",
           "linear_probe_accuracy", "max_drawdown", "memoryless_positions", "momentum_positions", "oracle_positions",
           "play_market", "sharpe_ratio", "strategy_returns"]
__all__ += ["vector_env_throughput", "acting_and_update_times", "amdahl_speedup", "scaling_run"]  # Chapter 7
from .minesweeper import (PLAYERS, auroc, brute_force_probabilities, expected_calibration_error, greedy_player, logic_player,  # noqa: E402
                          mine_probabilities, play_game, random_player, win_rate, QNetworkPlayer, record_forecast_game,
                          forecast_arrays)

__all__ += ["PLAYERS", "auroc", "expected_calibration_error", "brute_force_probabilities", "greedy_player", "logic_player", "mine_probabilities",
            "play_game", "random_player", "win_rate", "QNetworkPlayer", "record_forecast_game", "forecast_arrays"]  # Chapter 8
from .control import run_pendulum_controller, swing_up_torque  # noqa: E402

__all__ += ["run_pendulum_controller", "swing_up_torque"]  # Chapter 6
