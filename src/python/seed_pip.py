"""Seeds a new environment with the pip (and, before Python 3.12, setuptools) that the interpreter's
ensurepip bundles, as `python -m ensurepip --default-pip` does, without starting pip.

ensurepip installs its wheels by running pip from inside a zip file, where nothing it imports has
bytecode: that alone costs seconds of every build. These wheels are pure Python, trusted (they come
with the interpreter) and simple, so they are unpacked here the way a wheel installer does: files
checked against the wheel's RECORD, console scripts made as pip makes them, INSTALLER and REQUESTED
written, everything compiled, and a RECORD listing all of it. ensurepip still chooses the wheels (its
own, or a distribution's such as Debian's /usr/share/python-wheels); anything this does not handle
(an option it does not know, a wheel with a .data directory or that is not purelib) goes to
ensurepip's own pip, unchanged, as do pips older than 22 (Python 3.6), whose scripts and metadata
differ from the ones made here.

Run as: ENV/bin/python seed_pip.py [--no-compile] [--report FILE]   (Python 3.6 and later; Python 2
builds use ensurepip itself). --no-compile: no bytecode, for a build that compiles everything once
afterwards. --report: FILE gets the name, version and sha256 of each wheel installed here (none when
ensurepip's own pip installs them).
"""

import base64
import compileall
import csv
import ensurepip
import hashlib
import importlib.util
import io
import json
import os
import re
import sys
import sysconfig
import zipfile


class Unsupported(Exception):
    """Something ensurepip's own pip should handle."""


def record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def shebang(executable):
    # pip's script maker: a plain #! line where the kernel can take it, else a sh trampoline.
    if " " not in executable and len(executable) + 3 <= 127:
        return "#!" + executable + "\n"
    quoted = '"' + executable + '"' if " " in executable else executable
    return "#!/bin/sh\n'''exec' " + quoted + ' "$0" "$@"\n' + "' '''\n"


SCRIPT = """# -*- coding: utf-8 -*-
import re
import sys
from {module} import {name}
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit({call}())
"""


def console_scripts(text):
    scripts, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]").strip()
        elif section == "console_scripts" and "=" in line:
            name, value = (part.strip() for part in line.split("=", 1))
            scripts[name] = value
    return scripts


def scripts_to_make(scripts):
    """The names pip gives pip's and setuptools' scripts: versioned for this interpreter, not the wheel's builder."""
    version = "%d.%d" % sys.version_info[:2]
    options = os.environ.get("ENSUREPIP_OPTIONS")
    made = []
    pip = scripts.pop("pip", None)
    if pip:
        if options is None:
            made.append(("pip", pip))
        if options != "altinstall":
            made.append(("pip%d" % sys.version_info[0], pip))
        made.append(("pip" + version, pip))
        for name in [n for n in scripts if re.match(r"pip(\d+(\.\d+)?)?$", n)]:
            del scripts[name]
    easy_install = scripts.pop("easy_install", None)
    if easy_install:
        if options is None:
            made.append(("easy_install", easy_install))
        made.append(("easy_install-" + version, easy_install))
        for name in [n for n in scripts if re.match(r"easy_install(-\d+\.\d+)?$", n)]:
            del scripts[name]
    made.extend(sorted(scripts.items()))
    return made


def safe_destination(root, name):
    path = os.path.normpath(os.path.join(root, name))
    if os.path.isabs(name) or not path.startswith(root + os.sep):
        raise Unsupported("unsafe path in wheel: " + name)
    return path


def read_wheel(wheel_path, site):
    """Every file of the wheel, checked against its RECORD before anything is written."""
    with zipfile.ZipFile(wheel_path) as wheel:
        names = [n for n in wheel.namelist() if not n.endswith("/")]
        dist_infos = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
        if len(dist_infos) != 1:
            raise Unsupported("no single .dist-info")
        dist_info = dist_infos.pop()
        if any(n.split("/", 1)[0].endswith(".data") for n in names):
            raise Unsupported(".data directory")
        if "Root-Is-Purelib: true" not in wheel.read(dist_info + "/WHEEL").decode("utf-8"):
            raise Unsupported("not purelib")
        expected = {}
        for row in csv.reader(io.StringIO(wheel.read(dist_info + "/RECORD").decode("utf-8"))):
            if len(row) >= 2 and row[1]:
                expected[row[0]] = row[1]
        files = []
        for info in wheel.infolist():
            name = info.filename
            if name.endswith("/") or name == dist_info + "/RECORD":
                continue
            data = wheel.read(info)
            if expected.get(name) != record_hash(data):
                raise Unsupported(name + " does not match the wheel's RECORD")
            files.append((name, safe_destination(site, name), data, bool((info.external_attr >> 16) & 0o111)))
        entry_points = dist_info + "/entry_points.txt"
        scripts = console_scripts(wheel.read(entry_points).decode("utf-8")) if entry_points in names else {}
    return dist_info, files, scripts


def write_file(path, data, executable, rows, name):
    with open(path, "wb") as out:
        out.write(data)
    if executable:
        os.chmod(path, 0o755)
    rows.append((name, record_hash(data), str(len(data))))


def install_wheel(wheel, site, bin_dir):
    dist_info, files, scripts = wheel
    rows = []
    for name, path, data, executable in files:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_file(path, data, executable, rows, name)
    head = shebang(sys.executable)
    for script, value in scripts_to_make(scripts):
        module, _, call = value.partition(":")
        call = call.strip()
        body = head + SCRIPT.format(module=module.strip(), name=call.split(".")[0], call=call)
        path = os.path.join(bin_dir, script)
        write_file(path, body.encode("utf-8"), True, rows, os.path.relpath(path, site))
    for name, content in (("INSTALLER", b"pip\n"), ("REQUESTED", b"")):
        write_file(os.path.join(site, dist_info, name), content, False, rows, dist_info + "/" + name)
    for name, path, _, _ in files:
        if not name.endswith(".py") or not COMPILE:
            continue
        if not compileall.compile_file(path, force=True, quiet=2):
            raise RuntimeError("cannot compile " + path)
        compiled = importlib.util.cache_from_source(path)
        if os.path.exists(compiled):
            rows.append((os.path.relpath(compiled, site), "", ""))
    rows.append((dist_info + "/RECORD", "", ""))
    # As pip writes it: csv's own line ends (\r\n).
    with open(os.path.join(site, dist_info, "RECORD"), "w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(sorted(rows))


def seed(original):
    """A stand-in for ensurepip._run_pip: installs from the wheels ensurepip put in its --find-links directory."""

    def run_pip(args, additional_paths=None):
        try:
            if args[:1] != ["install"] or "--find-links" not in args:
                raise Unsupported("arguments")
            links = args.index("--find-links")
            wheels_dir = args[links + 1]
            projects = [a for a in args[links + 2 :] if not a.startswith("-")]
            flags = [a for a in args[1:links] + args[links + 2 :] if a.startswith("-")]
            if set(flags) - {"--no-cache-dir", "--no-index", "--upgrade"}:
                raise Unsupported("options")
            paths = sysconfig.get_paths()
            site, bin_dir = paths["purelib"], paths["scripts"]
            if not os.path.isdir(site) or any(name.endswith(".dist-info") for name in os.listdir(site)):
                raise Unsupported("not a new environment")
            wheels, chosen = [], []
            for project in projects:
                found = [w for w in os.listdir(wheels_dir) if w.startswith(project + "-") and w.endswith(".whl")]
                if len(found) != 1:
                    raise Unsupported("wheel of " + project)
                if project == "pip" and int(re.match(r"pip-(\d+)", found[0]).group(1)) < 22:
                    raise Unsupported("a pip older than 22 makes its scripts and metadata differently")
                wheels.append(read_wheel(os.path.join(wheels_dir, found[0]), site))
                chosen.append(found[0])
        except Unsupported:
            return original(args, additional_paths)
        for wheel in wheels:
            install_wheel(wheel, site, bin_dir)
        if REPORT:
            write_report(REPORT, [os.path.join(wheels_dir, w) for w in chosen])
        return 0

    return run_pip


def write_report(path, wheel_files):
    """What was installed from which wheel (name, version, sha256), as terrarium records a layer's provenance."""
    entries = []
    for wheel_file in wheel_files:
        name, version = os.path.basename(wheel_file).split("-")[:2]
        with open(wheel_file, "rb") as handle:
            entries.append({"name": name, "version": version, "sha256": hashlib.sha256(handle.read()).hexdigest()})
    with open(path, "w") as out:
        json.dump(entries, out)


COMPILE = "--no-compile" not in sys.argv[1:]
REPORT = sys.argv[sys.argv.index("--report") + 1] if "--report" in sys.argv[1:-1] else None

if __name__ == "__main__":
    if sys.prefix == sys.base_prefix:
        sys.exit("seed_pip.py seeds virtual environments only")
    ensurepip._run_pip = seed(ensurepip._run_pip)
    sys.exit(ensurepip._main(["--default-pip"]))
