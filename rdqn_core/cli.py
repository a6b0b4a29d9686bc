"""Command line generated from :class:`~rdqn_core.config.TrainConfig`.

    python -m rdqn_core train --env rdqn/MaskedCartPole-v0 --seed 0 --total-steps 30000 --out runs/drqn
    python -m rdqn_core train --env rdqn/MaskedCartPole-v0 --cell mlp      # memoryless DQN baseline
    python -m rdqn_core evaluate --checkpoint runs/drqn/checkpoint.pt --episodes 20
    python -m rdqn_core benchmark --env rdqn/MaskedCartPole-v0 --envs 1,4,16
    python -m rdqn_core train --actors 2 --updates-per-step 0.5 --sync-every 20   # actors + learner (Ch. 7)

Each prints one JSON object as its last line, for scripts to parse.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .benchmark import benchmark, format_benchmark
from .checkpoint import load_training_config
from .config import TrainConfig
from .envs import check_spaces, make_env
from .checkpoint import action_branches_of, save_checkpoint
from .parallel import train_actor_learner, train_data_parallel
from .trainer import _check_resumable, evaluate, load_checkpoint, train
from .utils import get_device

__all__ = ["main", "build_parser", "config_to_argv"]


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,64, got {text!r}") from None


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"p\": 0.3}}', got {text!r} ({err})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"p\": 0.3}}', got {text!r}")
    return value


def _or_none(parse):
    def parse_or_none(text: str):
        return None if text.lower() in ("none", "null") else parse(text)
    parse_or_none.__name__ = getattr(parse, "__name__", "value") + " or none"
    return parse_or_none


def _parser_for(annotation) -> callable:
    """The argparse ``type`` for a TrainConfig field, from its annotation (``int | None`` accepts 'none')."""
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported config annotation {annotation}")
        return _or_none(_parser_for(inner[0]))
    origin = typing.get_origin(annotation) or annotation
    parsers = {bool: _bool, int: int, float: float, str: str, tuple: _int_tuple, dict: _json_object}
    if origin not in parsers:
        raise TypeError(f"no command-line parser for config annotation {annotation}")
    return parsers[origin]


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        flag = "--env" if f.name == "env_id" else "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        # Flags the user does not give stay out of the namespace (SUPPRESS), so that `--cell mlp` can take the
        # memoryless defaults of TrainConfig.memoryless() for them instead of the DRQN ones.
        # a bare boolean flag means true (`--free-running`), as a practitioner types it; `--flag false` still works
        bare = dict(nargs="?", const=True) if hints[f.name] is bool else {}
        parser.add_argument(flag, dest=f.name, type=_parser_for(hints[f.name]), default=argparse.SUPPRESS,
                            choices=f.metadata.get("choices"), help=f"{f.metadata['help']} (default: {default!r})",
                            **bare)


def config_to_argv(config: TrainConfig) -> list[str]:
    """Command-line flags that rebuild ``config`` (the inverse of the parser; tested field by field)."""
    argv = []
    for f in dataclasses.fields(TrainConfig):
        value = getattr(config, f.name)
        flag = "--env" if f.name == "env_id" else "--" + f.name.replace("_", "-")
        if value is None:
            text = "none"
        elif isinstance(value, tuple):
            text = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = json.dumps(value)
        else:
            text = str(value)
        argv += [flag, text]
    return argv


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's TrainConfig: the flags given, the rest from the defaults (memoryless ones for ``--cell mlp``).

    A memoryless DQN has no use for sequence windows, burn-in, stored states or the previous action, so
    ``--cell mlp`` alone gives ``TrainConfig.memoryless()``, and ``--cell conv`` (or no ``--cell`` for an
    environment that observes a ``(channels, rows, cols)`` board, like ``rdqn/Minesweeper-v0``) gives
    ``TrainConfig.board()``; a flag given explicitly always wins, and a
    combination that makes no sense (``--cell mlp --seq-len 8``) is still rejected by TrainConfig.
    """
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    if args.command == "benchmark" or getattr(args, "quiet", False):
        given["progress"] = False
    if getattr(args, "resume", None):
        stored = load_training_config(Path(args.resume) / "resume.pt")
        # checked here, before training, so that a changed field is a message and exit status 2
        return _check_resumable(stored, dataclasses.replace(stored, **given))
    if given.get("cell") == "mlp":
        return TrainConfig.memoryless(**given)
    if given.get("cell") == "conv" or ("cell" not in given and _board_observation(given)):
        return TrainConfig.board(**given)  # a (channels, rows, cols) board: the per-cell conv network
    return TrainConfig(**given)


def _board_observation(given: dict) -> bool:
    """Whether the environment the flags name observes a ``(channels, rows, cols)`` board (Chapter 8)."""
    env = make_env(given.get("env_id", TrainConfig.env_id), action_bins=given.get("action_bins"),
                   **given.get("env_kwargs", {}))
    try:
        return len(env.observation_space.shape or ()) == 3
    finally:
        env.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rdqn_core",
                                     description="Train, evaluate and benchmark (recurrent) DQN agents.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train an agent; last line: a JSON summary")
    _add_config_arguments(p_train)
    p_train.add_argument("--out", default=None, help="folder for progress.csv (written as the run goes), "
                         "checkpoint.pt, best.pt, resume.pt, envs.pkl and history.json")
    p_train.add_argument("--resume", default=None, metavar="DIR",
                         help="continue the run stored in DIR (its resume.pt); flags given override only "
                              "total-steps, eval-every, eval-episodes, solve-threshold, checkpoint-every, "
                              "device, torch-threads, progress")
    p_train.add_argument("--quiet", action="store_true", help="no progress bar (same as --progress false)")
    p_train.add_argument("--ddp", action="store_true",
                         help="data-parallel learners: launch with `torchrun --nproc-per-node N -m rdqn_core train "
                              "--ddp ...`; --batch-size is the global batch, split over the ranks (Chapter 7)")
    p_eval = sub.add_parser("evaluate", help="greedy evaluation of a checkpoint; last line: a JSON summary")
    p_eval.add_argument("--checkpoint", required=True, help="path to a checkpoint.pt written by train")
    p_eval.add_argument("--episodes", type=int, default=20, help="episodes, each from a fresh memory")
    p_eval.add_argument("--seed", type=int, default=12345, help="seed of the first evaluation episode")
    p_eval.add_argument("--env", default=None, help="evaluate on this env instead of the training one")
    p_eval.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda'")
    p_bench = sub.add_parser("benchmark", help="env, acting and update throughput of a configuration on this "
                                               "machine; prints a table, last line: JSON")
    _add_config_arguments(p_bench)
    p_bench.add_argument("--envs", type=_int_tuple, default=(1, 4, 16),
                         help="numbers of vector environments to time acting with (default: 1,4,16)")
    p_bench.add_argument("--act-steps", type=int, default=200, help="vector steps timed per row (default: 200)")
    p_bench.add_argument("--updates", type=int, default=50, help="gradient steps timed (default: 50)")
    p_bench.add_argument("--fill-steps", type=int, default=2000,
                         help="env steps of random play that fill the replay before the updates (default: 2000)")
    return parser


def _check_usable(config: TrainConfig) -> None:
    """Fail before training, with the ValueError's message, on a device or environment this run cannot use."""
    get_device(config.device)
    env = make_env(config.env_id, action_bins=config.action_bins, **config.env_kwargs)
    try:
        check_spaces(env.observation_space, env.action_space)
        action_branches_of(config, env.action_space.n)  # a branching head needs K**d actions
        shape = env.observation_space.shape or ()
        if config.cell == "conv" and (len(shape) != 3 or shape[1] * shape[2] != env.action_space.n):
            raise ValueError(f"cell 'conv' needs a (channels, rows, cols) board observation with one action per "
                             f"cell; {config.env_id} observes shape {tuple(shape)} with {env.action_space.n} "
                             "actions")
    finally:
        env.close()


def _error(message: object) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("train", "benchmark"):
        try:
            config = _config_from_args(args)
            _check_usable(config)
            if args.command == "benchmark":
                result = benchmark(config, args.envs, args.act_steps, args.updates, args.fill_steps)
        except (ValueError, FileNotFoundError) as err:
            return _error(err)
        if args.command == "benchmark":
            print(format_benchmark(result))
            print(json.dumps(result))
            return 0
        out = args.resume or args.out
        if args.resume and args.out and Path(args.out) != Path(args.resume):
            return _error(f"--out {args.out} differs from --resume {args.resume}; a resumed run writes where it ran")
        if args.ddp:  # Chapter 7: one learner per torchrun process
            if config.actors or args.resume:
                return _error("--ddp runs one learner per torchrun process; it cannot be combined with --actors "
                              "or --resume")
            try:
                result = train_data_parallel(config, out_dir=out)
            except ValueError as err:
                return _error(err)
            if result.summary.get("rank", 0) != 0:
                return 0  # rank 0 reports for the group
        elif config.actors:  # Chapter 7: actor processes and one learner
            if args.resume:
                return _error("--resume is not supported with --actors; start a new run")
            result = train_actor_learner(config)
            if out:
                Path(out).mkdir(parents=True, exist_ok=True)
                save_checkpoint(Path(out) / "checkpoint.pt", result.agent, config, {"env_steps": result.summary["env_steps"]})
        else:
            result = train(config, out_dir=out, resume=bool(args.resume))
        if out:
            (Path(out) / "history.json").write_text(json.dumps(result.history))
        print(json.dumps(result.summary))
        return 0
    try:
        agent, config = load_checkpoint(args.checkpoint, args.device)
        returns = evaluate(agent, args.env or config.env_id, args.episodes, args.seed,
                           env_kwargs=None if args.env else config.env_kwargs)
    except (ValueError, FileNotFoundError) as err:
        return _error(err)
    print(json.dumps({"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
                      "episodes": int(args.episodes), "env": args.env or config.env_id}))
    return 0
