#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""Recreates the environment this script came with, from the requirements it was built from.

    python terrarium_bootstrap.py DEST [pip install options...]

Written by terrarium; standalone (only the standard library and pip are needed).
"""
import json
import os
import subprocess
import sys
import tempfile

# Requirement files as terrarium read them (comments dropped, includes renamed) and the locked set: name -> text.
FILES = json.loads(__TERRARIUM_FILES__)
# The pip install runs, in order (locked packages first); each -r names one of FILES.
INSTALLS = json.loads(__TERRARIUM_INSTALLS__)


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    dest = os.path.abspath(argv[1])
    workdir = tempfile.mkdtemp(prefix="terrarium-bootstrap-")
    for name, text in FILES.items():
        with open(os.path.join(workdir, name), "w") as handle:
            handle.write(text)
    if sys.version_info[0] >= 3:
        command = [sys.executable, "-m", "venv", dest]
    else:
        command = [sys.executable, "-m", "virtualenv", dest]
    status = subprocess.call(command)
    if status != 0:
        return status
    pip = [os.path.join(dest, "bin", "python"), "-m", "pip", "install"]
    for args in INSTALLS:
        named = [os.path.join(workdir, arg) if arg in FILES else arg for arg in args]
        status = subprocess.call(pip + named + argv[2:])
        if status != 0:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
