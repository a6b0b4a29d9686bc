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
from .networks import CELL_TYPES, MLPQNetwork, RecurrentQNetwork, RecurrentState, build_q_network
from .replay import SequenceBatch, SequenceReplay, TransitionReplay
from .trainer import TrainResult, build_agent, evaluate, load_checkpoint, save_checkpoint, train
from .utils import get_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "QAgent", "epsilon_at",
    "TrainConfig", "config_from_dict", "describe_config",
    "FLICKER_CARTPOLE_ID", "MASKED_CARTPOLE_ID", "FlickerObservation", "KeepObservationIndices", "MaskVelocity",
    "check_spaces", "make_env", "make_vector_env",
    "n_step_td_targets", "td_loss",
    "CELL_TYPES", "MLPQNetwork", "RecurrentQNetwork", "RecurrentState", "build_q_network",
    "SequenceBatch", "SequenceReplay", "TransitionReplay",
    "TrainResult", "build_agent", "evaluate", "load_checkpoint", "save_checkpoint", "train",
    "get_device", "seed_everything",
]
