"""Entry point the gateway runs: `python apppkg_shim_main.py serve|check [CONFIG_JSON]`.

Run as a script (not -m) so the interpreter's own startup is untouched; our directory is
sys.path[0] only long enough to import the apppkg_shim package, then bootstrap removes it
so the app never imports our modules by accident.
"""

import os
import sys

if __name__ == "__main__":
    _shim_dir = os.path.dirname(os.path.abspath(__file__))
    from apppkg_shim.bootstrap import main

    sys.exit(main(sys.argv, _shim_dir))
