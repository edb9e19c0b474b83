"""Measured accuracy of the gradient methods: generated, do not edit by hand.

Written by ``python benchmarks/bench_gradient_map.py --write-accuracy`` from the
gradient map (docs/gradient-map.md); ``tests/test_gradient_map.py`` re-runs a case
of it and checks these numbers.  ``MEASURED[name][kind]['rel_err'][steps]``, with
``kind`` ``'ode'`` (PF-ODE samplers, Gaussian mixtures) or ``'sde'`` (diffusion-SDE
samplers, a Gaussian), is the largest relative error of dloss/dx_T against the
continuous gradient over the map's cases of that kind; ``valid_min_steps`` is the
fewest steps from which it stays within ``TOLERANCE``; ``BEST`` the AdjointDEIS
variant with the smallest largest PF-ODE error at 10 and 20 steps (the one a guard's
warning suggests).
"""

TOLERANCE = 0.2
BEST = 'adjointdeis-linvp2s'
SETTING = {
    'ode': ('PF-ODE, two Gaussian mixtures on VP cosine and linear, rev_heun and '
            'rex_rk4 states'),
    'sde': ('diffusion SDE, two Gaussian mixtures (one Brownian path) and a '
            'Gaussian on VP cosine and linear, rev_heun_sde and rex_shark states'),
}
MEASURED: dict = {
    'reversible': {
        'ode': {
            'rel_err': {8: 0.185, 10: 0.128, 16: 0.0545, 20: 0.0357,
                        32: 0.0149, 64: 0.00387, 128: 0.000976},
            'valid_min_steps': 8,
        },
        'sde': {
            'rel_err': {8: 2.02, 10: 1.66, 16: 0.84, 20: 1.32,
                        32: 0.963, 64: 0.214, 128: 0.224},
            'valid_min_steps': None,
        },
    },
    'backprop': {
        'ode': {
            'rel_err': {8: 0.185, 10: 0.128, 16: 0.0545, 20: 0.0357,
                        32: 0.0149, 64: 0.00387, 128: 0.000976},
            'valid_min_steps': 8,
        },
        'sde': {
            'rel_err': {8: 2.02, 10: 1.66, 16: 0.84, 20: 1.32,
                        32: 0.963, 64: 0.214, 128: 0.224},
            'valid_min_steps': None,
        },
    },
    'greedy': {
        'ode': {
            'rel_err': {8: 0.996, 10: 0.996, 16: 0.996, 20: 0.996,
                        32: 0.996, 64: 0.996, 128: 0.996},
            'valid_min_steps': None,
        },
        'sde': {
            'rel_err': {8: 1.37, 10: 1.37, 16: 1.37, 20: 1.37,
                        32: 1.37, 64: 1.37, 128: 1.37},
            'valid_min_steps': None,
        },
    },
    'adjointdeis-1': {
        'ode': {
            'rel_err': {8: 148, 10: 4.71, 16: 1, 20: 0.987,
                        32: 0.857, 64: 0.551, 128: 0.309},
            'valid_min_steps': None,
        },
        'sde': {
            'rel_err': {8: 6.81e+06, 10: 1.2e+06, 16: 94.2, 20: 1,
                        32: 1, 64: 0.951, 128: 0.725},
            'valid_min_steps': None,
        },
    },
    'adjointdeis-2m': {
        'ode': {
            'rel_err': {8: 6.95e+03, 10: 1.63e+03, 16: 8.47, 20: 3.44,
                        32: 0.887, 64: 0.165, 128: 0.0367},
            'valid_min_steps': 64,
        },
        'sde': {
            'rel_err': {8: 1.59e+08, 10: 6.48e+07, 16: 3.31e+06, 20: 1.99e+05,
                        32: 16.6, 64: 1.28, 128: 0.307},
            'valid_min_steps': None,
        },
    },
    'adjointdeis-vp1': {
        'ode': {
            'rel_err': {8: 1.24, 10: 0.77, 16: 0.341, 20: 0.242,
                        32: 0.127, 64: 0.055, 128: 0.0257},
            'valid_min_steps': 32,
        },
        'sde': {
            'rel_err': {8: 473, 10: 15.6, 16: 1, 20: 0.996,
                        32: 0.91, 64: 0.625, 128: 0.363},
            'valid_min_steps': None,
        },
    },
    'adjointdeis-vp2m': {
        'ode': {
            'rel_err': {8: 0.48, 10: 0.232, 16: 0.0759, 20: 0.0503,
                        32: 0.0209, 64: 0.00537, 128: 0.00135},
            'valid_min_steps': 16,
        },
        'sde': {
            'rel_err': {8: 8.24e+04, 10: 1.94e+04, 16: 191, 20: 4.48,
                        32: 1.53, 64: 0.215, 128: 0.229},
            'valid_min_steps': None,
        },
    },
    'adjointdeis-lin1': {
        'ode': {
            'rel_err': {8: 0.366, 10: 0.231, 16: 0.111, 20: 0.0864,
                        32: 0.0519, 64: 0.0251, 128: 0.0124},
            'valid_min_steps': 16,
        },
        'sde': {
            'rel_err': {8: 1.95, 10: 1.8, 16: 1.75, 20: 1.72,
                        32: 1.26, 64: 0.245, 128: 0.234},
            'valid_min_steps': None,
        },
    },
    'adjointdeis-lin2m': {
        'ode': {
            'rel_err': {8: 0.317, 10: 0.206, 16: 0.0912, 20: 0.0615,
                        32: 0.026, 64: 0.00685, 128: 0.00174},
            'valid_min_steps': 16,
        },
        'sde': {
            'rel_err': {8: 2.07, 10: 1.91, 16: 2.09, 20: 1.78,
                        32: 1.31, 64: 0.22, 128: 0.226},
            'valid_min_steps': None,
        },
    },
    'adjointdeis-lin2s': {
        'ode': {
            'rel_err': {8: 0.223, 10: 0.149, 16: 0.0578, 20: 0.0376,
                        32: 0.0153, 64: 0.00398, 128: 0.00102},
            'valid_min_steps': 10,
        },
        'sde': {
            'rel_err': {8: 1.72, 10: 1.8, 16: 2.21, 20: 1.71,
                        32: 1.39, 64: 0.223, 128: 0.227},
            'valid_min_steps': None,
        },
    },
    'adjointdeis-linvp1': {
        'ode': {
            'rel_err': {8: 0.254, 10: 0.213, 16: 0.129, 20: 0.105,
                        32: 0.0669, 64: 0.0337, 128: 0.0169},
            'valid_min_steps': 16,
        },
        'sde': {
            'rel_err': {8: 1.18, 10: 1.26, 16: 1.38, 20: 1.36,
                        32: 1.12, 64: 0.263, 128: 0.234},
            'valid_min_steps': None,
        },
    },
    'adjointdeis-linvp2s': {
        'ode': {
            'rel_err': {8: 0.182, 10: 0.122, 16: 0.0476, 20: 0.0312,
                        32: 0.0127, 64: 0.00331, 128: 0.000849},
            'valid_min_steps': 8,
        },
        'sde': {
            'rel_err': {8: 1.52, 10: 1.67, 16: 2.12, 20: 1.66,
                        32: 1.37, 64: 0.223, 128: 0.227},
            'valid_min_steps': None,
        },
    },
}
