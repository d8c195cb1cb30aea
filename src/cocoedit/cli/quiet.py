"""Third-party output only with ``cocoedit --verbose``.

Without ``--verbose`` a command shows what cocoedit says (its progress, its warnings, its errors)
and nothing of what the libraries under it print: transformers' and diffusers' warnings (the
torchvision fallback notice, the ``AutoencoderKL`` dtype-cast notice, tokenizer truncation), their
and huggingface_hub's tqdm progress bars (loading pipeline components, loading weights), and Python
warnings raised in library code. Errors are never hidden: a library error that stops a command
still reaches the user (as a one-line error or, for a bug, a traceback).

The libraries are imported inside the commands, after this runs, so most of it is environment
variables they read when they are first imported (children, such as the demo's workers, inherit
them); a library already imported in this process is set directly. A variable the user set is left
as it is.
"""

from __future__ import annotations

import os
import sys
import warnings

#: What each variable does: transformers and diffusers log errors only, transformers' advisory
#: notices off, and no tqdm bar from any library (tqdm reads ``TQDM_*`` as defaults).
QUIET_ENVIRONMENT = {
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "DIFFUSERS_VERBOSITY": "error",
    "DIFFUSERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
}

# The variables this module set (not the user), so --verbose in the same process can undo them.
_set_here: dict[str, str] = {}


def _imported_libraries():
    """The logging modules of transformers and diffusers, for those already imported."""
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        yield transformers_logging
    if "diffusers" in sys.modules:
        from diffusers.utils import logging as diffusers_logging

        yield diffusers_logging


def configure_third_party_output(verbose: bool) -> None:
    """Quiet the libraries (``verbose=False``) or give them their own defaults back."""
    if verbose:
        for key, value in list(_set_here.items()):
            if os.environ.get(key) == value:
                del os.environ[key]
        _set_here.clear()
        for library in _imported_libraries():
            library.set_verbosity_warning()
            library.enable_progress_bar()
        return
    for key, value in QUIET_ENVIRONMENT.items():
        if key not in os.environ:
            os.environ[key] = value
            _set_here[key] = value
    for library in _imported_libraries():
        library.set_verbosity_error()
        library.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    # cocoedit itself raises no Python warnings (it logs), so every warning is a library's.
    warnings.simplefilter("ignore")
