"""Sub-commands of ``synth``: each module has ``register(subparsers)``; see :mod:`synth.cli`."""
