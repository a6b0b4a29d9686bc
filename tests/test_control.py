"""Chapter 6's hand-written pendulum controller: it swings up, torque levels cost little, and from noisy angles
only the filter (a memory) keeps it working."""
import numpy as np
import pytest

from rdqn_core.instruments.control import PENDULUM_UPRIGHT_ENERGY, run_pendulum_controller, swing_up_torque


def test_controller_pumps_energy_far_from_the_top_and_catches_near_it():
    assert PENDULUM_UPRIGHT_ENERGY == 15.0
    # hanging down (theta = pi), moving: energy below upright, so the torque pushes along the motion
    assert swing_up_torque(np.pi, 1.0) > 0 and swing_up_torque(np.pi, -1.0) < 0
    # near the top, leaning right (theta > 0) and at rest: the PD catch pushes back
    assert swing_up_torque(0.1, 0.0) < 0
    assert abs(swing_up_torque(0.0, 30.0)) == 2.0  # clipped to the torque limit


def test_swing_up_works_continuous_and_with_a_few_torque_levels():
    continuous = run_pendulum_controller(episodes=20, seed=0)
    five = run_pendulum_controller(episodes=20, bins=5, seed=0)
    random_level = -1000.0  # uniformly random torques score about -1,200
    assert continuous.mean() > -250 and five.mean() > -300
    assert five.mean() > random_level + 500
    assert continuous.shape == (20,)


def test_from_noisy_angles_two_frames_fail_and_the_filter_works():
    two = run_pendulum_controller(episodes=20, velocity="two_frames", sigma=0.1, seed=0)
    filtered = run_pendulum_controller(episodes=20, velocity="alpha_beta", sigma=0.1, seed=0)
    clean_two = run_pendulum_controller(episodes=20, velocity="two_frames", sigma=0.0, seed=0)
    assert two.mean() < -600
    assert filtered.mean() > two.mean() + 400
    assert clean_two.mean() > -300  # without noise two frames are enough


def test_controller_rejects_unknown_velocity_estimators():
    with pytest.raises(ValueError, match="velocity"):
        run_pendulum_controller(episodes=1, velocity="kalman")
    with pytest.raises(ValueError, match="episodes"):
        run_pendulum_controller(episodes=0)
