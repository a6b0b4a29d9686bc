"""rdqn_core: deep recurrent Q-learning for partially observed gymnasium environments.

The package behind the book *Remember to Act*. Layers, lowest first (each imports
only the ones before it): ``utils`` -> ``envs`` -> ``networks`` -> ``losses`` ->
``replay`` -> ``config`` -> ``agent`` -> ``trainer`` -> ``cli``.
"""
from .agent import QAgent, epsilon_at
from .config import TrainConfig, config_from_dict, describe_config
from .envs import (FLICKER_CARTPOLE_ID, MASKED_CARTPOLE_ID, FlickerObservation, KeepObservationIndices,
                   MaskVelocity, check_spaces, make_env, make_vector_env)
from .losses import n_step_td_targets, td_loss
from .networks import CELL_TYPES, MLPQNetwork, ObservationNormalizer, RecurrentQNetwork, RecurrentState, build_q_network
from .replay import SequenceBatch, SequenceReplay, TransitionReplay
from .trainer import TrainResult, build_agent, evaluate, load_checkpoint, save_checkpoint, train
from .utils import get_device, seed_everything
from .tabular import ExtraExits, GreedyPath, greedy_path, q_learning, value_iteration
from .gradients import (ClipComparison, compare_clipping, fit_log_slope, hidden_state_gradient_norms, loss_spikes,
                        scale_recurrent_weights, stability_summary)
from .tasks import recall_task, recall_task_layout
from .stacking import STACKED_MASKED_CARTPOLE, make_frame_stacked, masked_cartpole_stacked
from .diagnostics import StalenessReport, collect_experience, hidden_state_staleness, linear_probe_r2, q_discrepancy, trace_episode

__version__ = "0.1.0"

__all__ = [
    "QAgent", "epsilon_at",
    "TrainConfig", "config_from_dict", "describe_config",
    "FLICKER_CARTPOLE_ID", "MASKED_CARTPOLE_ID", "FlickerObservation", "KeepObservationIndices", "MaskVelocity",
    "check_spaces", "make_env", "make_vector_env",
    "n_step_td_targets", "td_loss",
    "CELL_TYPES", "MLPQNetwork", "ObservationNormalizer", "RecurrentQNetwork", "RecurrentState", "build_q_network",
    "SequenceBatch", "SequenceReplay", "TransitionReplay",
    "TrainResult", "build_agent", "evaluate", "load_checkpoint", "save_checkpoint", "train",
    "get_device", "seed_everything",
    "ExtraExits", "GreedyPath", "greedy_path", "q_learning", "value_iteration",
    "ClipComparison", "compare_clipping", "fit_log_slope", "hidden_state_gradient_norms", "loss_spikes",
    "scale_recurrent_weights", "stability_summary",
    "recall_task", "recall_task_layout",
    "STACKED_MASKED_CARTPOLE", "make_frame_stacked", "masked_cartpole_stacked",
    "StalenessReport", "collect_experience", "hidden_state_staleness", "linear_probe_r2", "q_discrepancy", "trace_episode",
]
