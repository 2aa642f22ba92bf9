"""Named pretrained models, as synth imports them: the registry, the local cache, downloads.

The one implementation is :mod:`vocoder.models` (the ``vocoder`` command takes registry names
too, and ``vocoder`` imports nothing from ``synth``); this module re-exports its public names,
so ``from synth.models import ModelCache`` keeps working. Turning a model file into a loaded
component is :class:`synth.hub.ModelHub`'s job.
"""

from vocoder.models import *  # noqa: F401,F403 - the re-export is this module's purpose
from vocoder.models import __all__  # noqa: F401
