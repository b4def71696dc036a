"""The float64 reference: seeded inputs and ground-truth gradients, importable on its own.

>>> from reference import Problem, make_inputs, solve
>>> problem = Problem(sizes=(1, 2, 2, 1), hidden_activation="relu", output_activation="linear",
...                   loss="half_squared_error", x=(2.0,), y=(1.0,), constant_init=(1.0, -0.5))
>>> [float(g) for g in solve(problem, make_inputs(problem, seed=0))[0].db[-1]]
[3.5]
"""

from reference.mlp import ACTIVATIONS, LOSSES, Array, Trace, backward, forward
from reference.problem import Inputs, Problem, Step, make_inputs, solve, solve_seed

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "Array",
    "Inputs",
    "Problem",
    "Step",
    "Trace",
    "backward",
    "forward",
    "make_inputs",
    "solve",
    "solve_seed",
]
