"""Named crash points for the kill-mid-write tests.

A test sets SLEDS_FAULT_POINT=<name> in a subprocess; reaching that point ends
the process at once (no cleanup, no finally blocks), as a kill or power loss
would. Unset, it costs one dictionary lookup.
"""

import os


def fault_point(name: str) -> None:
    if os.environ.get("SLEDS_FAULT_POINT") == name:
        os._exit(86)
