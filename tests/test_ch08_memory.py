"""Chapter 8's memory variant: the (click, count) stack, the memory reference players, the script on a tiny budget
and the committed result file the page reads."""
import json
import pathlib

import numpy as np
import pytest
import torch
from gymnasium import spaces

from rdqn_core import MINESWEEPER_MEMORY_ID, MinesweeperMemoryEnv, TrainConfig, build_agent, evaluate, make_env
from rdqn_core.envs.stacking import AppendPreviousAction, minesweeper_memory_stacked
from rdqn_core.instruments.minesweeper import (MEMORY_PLAYERS, WASTED, fresh_cell_clicker, memory_view,
                                               perfect_memory_player, play_memory_env, uniform_clicker)
from test_ch04_script import check_quick_like_committed, load_script_module, run_quick_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "scripts" / "ch08_memory.py"
COMMITTED = ROOT / "book" / "data" / "ch08_memory.json"
L = 14  # safe cells of the 4x4 board with 2 mines
LOWEST_RETURN = -4.0  # 4 L wasted clicks at -1/L each; a mine or a truncation ends a game sooner


# ------------------------------------------------------------------ the (click, count) stack
def test_append_previous_action_pairs_each_count_with_its_click():
    env = AppendPreviousAction(MinesweeperMemoryEnv())
    assert env.observation_space.shape == (11 + 16,)
    obs, _ = env.reset(seed=0)
    assert obs[10] == 1 and not obs[11:].any()  # "no click yet", and no action
    obs, *_ = env.step(5)
    assert obs[11:].tolist() == [float(i == 5) for i in range(16)]
    assert obs[:9].sum() == 1  # the first click is safe: a count 0..8
    obs, reward, *_ = env.step(5)  # the same cell again: wasted, still paired with cell 5
    assert obs[9] == 1 and obs[11 + 5] == 1 and reward == pytest.approx(-1 / L)


def test_append_previous_action_refuses_spaces_it_cannot_extend():
    with pytest.raises(ValueError, match="Discrete action space"):
        AppendPreviousAction(make_env("Pendulum-v1"))
    with pytest.raises(ValueError, match="1-D Box"):
        AppendPreviousAction(make_env("rdqn/Minesweeper-v0", rows=4, cols=4, mines=2))


def test_stacked_memory_env_holds_the_last_k_clicks_oldest_first():
    env = minesweeper_memory_stacked(k=3, rows=4, cols=4, mines=2)
    assert isinstance(env.observation_space, spaces.Box) and env.observation_space.shape == (3 * 27,)
    obs, _ = env.reset(seed=1)
    frames = obs.reshape(3, 27)
    assert not frames[:2].any() and frames[2, 10] == 1  # zero padding before the first observation
    played = []
    for cell in (0, 15, 6, 9):
        obs, _, terminated, _, _ = env.step(cell)
        played.append(cell)
        if terminated:  # a mine: the final observation still holds the stack
            break
    frames = obs.reshape(3, 27)
    clicked = [int(f[11:].argmax()) if f[11:].any() else None for f in frames]
    assert clicked == ([None] * 3 + played)[-3:]


# ------------------------------------------------------------------ memory reference players
def play_and_record(player, seed):
    """One game of the memory env, returning the player's history and the game's own view."""
    env = MinesweeperMemoryEnv()
    env.reset(seed=seed)
    rng, history, done = np.random.default_rng(seed), [], False
    while not done:
        cell = player(history, (4, 4), 2, rng)
        obs, _, terminated, truncated, _ = env.step(cell)
        history.append((cell, int(obs[:9].argmax()) if obs[:9].any() else WASTED))
        done = terminated or truncated
    return history, env.game.view.copy()


@pytest.mark.parametrize("player", [uniform_clicker, fresh_cell_clicker, perfect_memory_player])
def test_memory_view_rebuilds_the_games_view(player):
    """Without flood reveal the (click, count) pairs are the whole board a perfect memory can know."""
    for seed in range(20):
        history, view = play_and_record(player, seed)
        np.testing.assert_array_equal(memory_view(history, 4, 4), view)


def test_memory_view_rejects_impossible_history():
    with pytest.raises(ValueError, match="outside"):
        memory_view([(16, 1)], 4, 4)
    with pytest.raises(ValueError, match="0..8"):
        memory_view([(3, 9)], 4, 4)


def test_fresh_cell_clicker_never_repeats_and_perfect_memory_never_wastes():
    for seed in range(20):
        for player in (fresh_cell_clicker, perfect_memory_player):
            history, _ = play_and_record(player, seed)
            cells = [cell for cell, _ in history]
            assert len(cells) == len(set(cells)), (player.__name__, cells)


def test_perfect_memory_is_far_above_random_on_the_reward_scale():
    games = {name: play_memory_env(name, 300, seed=0) for name in MEMORY_PLAYERS}
    perfect, where, uniform = (games[n]["returns"].mean() for n in ("perfect memory", "remembers where", "random"))
    assert perfect > 0.8 and where < 0 and uniform < 0, (perfect, where, uniform)
    assert perfect - max(where, uniform) > 0.8
    won = games["perfect memory"]
    # a win without a wasted click returns exactly 1.0; nothing returns more
    np.testing.assert_allclose(won["returns"][won["wins"]], 1.0)
    for played in games.values():
        assert played["returns"].max() <= 1.0 + 1e-9 and played["returns"].min() >= LOWEST_RETURN


def test_play_memory_env_is_reproducible_and_checks_its_arguments():
    a, b = play_memory_env("random", 30, seed=3), play_memory_env("random", 30, seed=3)
    np.testing.assert_array_equal(a["returns"], b["returns"])
    with pytest.raises(ValueError, match="unknown memory player"):
        play_memory_env("oracle", 10)
    with pytest.raises(ValueError, match="episodes"):
        play_memory_env("random", 0)


# ------------------------------------------------------------------ the script
def test_greedy_games_agrees_with_evaluate():
    """The script's evaluation (which also counts wins) plays the same games as rdqn_core.evaluate."""
    module = load_script_module(SCRIPT)
    for method in ("drqn", "dqn_stack4"):
        cfg = module.configs(1_000)[method]
        env = make_env(cfg.env_id, **cfg.env_kwargs)
        torch.manual_seed(0)
        agent = build_agent(cfg, env.observation_space.shape[0], env.action_space.n, torch.device("cpu"))
        games = module.greedy_games(agent.online.eval(), cfg, 12, seed=500)
        np.testing.assert_allclose(games["returns"], evaluate(agent, cfg.env_id, 12, seed=500,
                                                              env_kwargs=cfg.env_kwargs))
        assert (games["returns"][games["wins"]] > 0).all()


def test_the_agents_differ_only_in_what_they_remember():
    module = load_script_module(SCRIPT)
    cfgs = module.configs()
    drqn, stack, memoryless = (cfgs[m] for m in module.METHODS)
    assert drqn.cell == "lstm" and stack.cell == memoryless.cell == "mlp"
    assert all(c.prev_action_input for c in cfgs.values())
    assert len({c.batch_size * c.seq_len for c in cfgs.values()}) == 1  # TD terms per update
    assert drqn.env_id == memoryless.env_id == MINESWEEPER_MEMORY_ID
    assert stack.env_kwargs["k"] == module.STACK
    differs = {f for f in TrainConfig.__dataclass_fields__ if getattr(stack, f) != getattr(memoryless, f)}
    assert differs == {"env_id", "env_kwargs"}


@pytest.mark.slow
def test_quick_run_writes_a_file_shaped_like_the_committed_one(tmp_path):
    quick, _ = check_quick_like_committed(run_quick_script(SCRIPT, tmp_path / "quick.json", "--jobs", "1"),
                                          COMMITTED)
    assert {r["method"] for r in quick["runs"]} == set(load_script_module(SCRIPT).METHODS)


def test_the_committed_file_has_what_the_page_reads():
    data = json.loads(COMMITTED.read_text())
    module = load_script_module(SCRIPT)
    assert data["quick"] is False and data["budget"] == module.BUDGET
    assert data["eval_episodes"] >= 500 and data["reference_games"] >= 2_000
    assert data["board"] == {"rows": 4, "cols": 4, "mines": 2} and data["reward_scale"]["L"] == L
    for key in ("command", "created", "machine", "wall_seconds"):
        assert data[key], key
    for method in module.METHODS:
        runs = [r for r in data["runs"] if r["method"] == method]
        assert sorted(r["seed"] for r in runs) == [0, 1, 2], method
        for run in runs:
            assert run["env_steps"] >= data["budget"] and run["episodes"] == data["eval_episodes"]
            low, high = run["ci"]
            assert LOWEST_RETURN <= low <= run["mean_return"] <= high <= 1.0, run["ci"]
            assert 0 <= run["win_share"] <= 1 and len(run["eval_steps"]) == len(run["eval_means"]) > 0
    assert set(data["references"]) == set(MEMORY_PLAYERS)
    for name, ref in data["references"].items():
        assert ref["episodes"] == data["reference_games"], name
        assert LOWEST_RETURN <= ref["ci"][0] <= ref["mean_return"] <= ref["ci"][1] <= 1.0, name
    summary = module.summarize(data)
    assert set(summary) == set(module.METHODS) and all(len(s["means"]) == 3 for s in summary.values())
