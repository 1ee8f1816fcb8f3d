"""clipmend: find and fix spurious-correlation failures of image classifiers.

The subpackages follow the paper's steps: ``data``, ``models``, ``llm``, ``clip``,
``generation``, ``debugging``, ``evaluation``, ``reporting``; ``demo`` is the demo world.
Importing the package is cheap: torch and friends load only with the modules that need them.
"""

__version__ = "0.1.0"
