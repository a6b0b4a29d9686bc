"""Partially observed environments: what they hide, env_checker, ids and bad specs."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rdqn_core import (FLICKER_CARTPOLE_ID, MASKED_CARTPOLE_ID, FlickerObservation, KeepObservationIndices,
                       MaskVelocity, check_spaces, make_env, make_vector_env)


@pytest.mark.parametrize("env_id", [MASKED_CARTPOLE_ID, FLICKER_CARTPOLE_ID])
def test_registered_envs_pass_env_checker(env_id):
    env = gym.make(env_id)
    check_env(env, skip_render_check=True)
    assert env.spec.max_episode_steps == 500


def test_mask_velocity_keeps_positions_only():
    full, masked = gym.make("CartPole-v1"), MaskVelocity(gym.make("CartPole-v1"))
    o_full, _ = full.reset(seed=3)
    o_masked, _ = masked.reset(seed=3)
    assert masked.observation_space.shape == (2,)
    np.testing.assert_array_equal(o_masked, o_full[[0, 2]])


def test_keep_indices_errors():
    with pytest.raises(ValueError, match="outside the observation of size 4"):
        KeepObservationIndices(gym.make("CartPole-v1"), [0, 7])
    with pytest.raises(ValueError, match="empty"):
        KeepObservationIndices(gym.make("CartPole-v1"), [])


def test_flicker_blanks_about_p_of_observations_and_repeats_with_seed():
    def blanks(seed):
        env = FlickerObservation(gym.make("CartPole-v1"), p=0.5)
        env.reset(seed=seed)
        env.action_space.seed(seed)
        out = []
        for _ in range(400):
            o, _, term, trunc, _ = env.step(env.action_space.sample())
            out.append(not o.any())
            if term or trunc:
                env.reset()
        return np.array(out)

    a = blanks(1)
    assert 0.4 < a.mean() < 0.6
    assert np.array_equal(a, blanks(1)), "the same seed blanks the same steps"
    assert not np.array_equal(a, blanks(2)), "another seed blanks other steps"
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        FlickerObservation(gym.make("CartPole-v1"), p=1.0)


def test_unknown_env_id_names_close_matches():
    with pytest.raises(ValueError, match="unknown environment id 'CartPol-v1'.*CartPole-v1"):
        make_env("CartPol-v1")


def test_module_callable_spec():
    env = make_env("rdqn_core.envs.registry:_masked_cartpole")
    assert env.observation_space.shape == (2,)
    with pytest.raises(ValueError, match="has no attribute 'nope'"):
        make_env("rdqn_core.envs:nope")
    with pytest.raises(ValueError, match="cannot import module .*python -m rdqn_core. from the folder"):
        make_env("no_such_module_xyz:make")


def test_box_action_space_is_rejected_with_the_spaces_named():
    env = gym.make("Pendulum-v1")
    with pytest.raises(ValueError, match="Discrete action space, got Box"):
        check_spaces(env.observation_space, env.action_space)


def test_vector_env_uses_same_step_autoreset():
    envs = make_vector_env("CartPole-v1", 2)
    envs.reset(seed=0)
    for _ in range(200):
        obs, _, term, trunc, info = envs.step(np.zeros(2, int))  # always push left: episodes end fast
        if (term | trunc).any():
            done = term | trunc
            assert info["_final_obs"][done].all()
            # the returned observation already starts the next episode (|x| small), final one is far off
            final = np.stack(info["final_obs"][done])
            assert np.all(np.abs(final[:, 2]) > 0.2) and np.all(np.abs(obs[done][:, 2]) < 0.06)
            break
    else:
        pytest.fail("no episode ended")


@pytest.mark.parametrize("wrap", [lambda e: KeepObservationIndices(e, (3, 0)), MaskVelocity,
                                  lambda e: FlickerObservation(e, p=0.7)])
def test_wrappers_record_their_arguments_so_the_spec_rebuilds_them(wrap):
    env = wrap(gym.make("CartPole-v1"))
    rebuilt = gym.make(env.spec)
    assert type(rebuilt) is type(env) and rebuilt.observation_space == env.observation_space
    for _ in range(2):
        first, _ = env.reset(seed=5)
        again, _ = rebuilt.reset(seed=5)
        np.testing.assert_array_equal(first, again)
        for _ in range(20):
            a, _, _, _, _ = env.step(1)
            b, _, _, _, _ = rebuilt.step(1)
            np.testing.assert_array_equal(a, b)
