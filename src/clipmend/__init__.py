"""clipmend: find and fix spurious-correlation failures of image classifiers."""

from clipmend import _torchvision_fix  # noqa: F401  (must run before timm/open_clip import)

__version__ = "0.1.0"
