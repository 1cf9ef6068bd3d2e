# Prints, as one JSON object, what terrarium needs to know about this interpreter.
# Runs under every Python terrarium supports (2.7 and 3.x): no f-strings, no newer modules.
import json
import os
import platform
import sys
import sysconfig


def base_prefix():
    return getattr(sys, "real_prefix", None) or getattr(sys, "base_prefix", sys.prefix)


def base_executable():
    # Inside a virtual environment, the interpreter to build with is the one it was made from.
    if os.path.realpath(base_prefix()) == os.path.realpath(sys.prefix):
        return sys.executable
    inside = os.path.realpath(sys.prefix) + os.sep
    candidate = getattr(sys, "_base_executable", None)
    if candidate and os.path.exists(candidate) and not os.path.realpath(candidate).startswith(inside):
        return candidate
    for name in ("python%d.%d" % sys.version_info[:2], "python%d" % sys.version_info[0], "python"):
        path = os.path.join(base_prefix(), "bin", name)
        if os.path.exists(path):
            return path
    return sys.executable


def has_module(name):
    try:
        __import__(name)
        return True
    except Exception:
        return False


def implementation_version():
    # PEP 508's format: 3.11.7, or 3.13.0rc1 for a release candidate.
    info = getattr(sys, "implementation", None)
    if info is None:
        return "0"
    version = "%d.%d.%d" % info.version[:3]
    if info.version[3] != "final":
        version += info.version[3][0] + str(info.version[4])
    return version


# PEP 508's marker values; platform_release and platform_version (the kernel's) are read at each run.
markers = {
    "os_name": os.name,
    "sys_platform": sys.platform,
    "platform_machine": platform.machine(),
    "platform_python_implementation": platform.python_implementation(),
    "platform_system": platform.system(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "python_full_version": platform.python_version(),
    "implementation_name": getattr(getattr(sys, "implementation", None), "name", ""),
    "implementation_version": implementation_version(),
}

libc = platform.libc_ver()
print(json.dumps({
    "implementation": platform.python_implementation().lower(),
    "version": list(sys.version_info[:3]),
    "abiflags": getattr(sys, "abiflags", ""),
    "soabi": sysconfig.get_config_var("SOABI") or "",
    "gilDisabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "machine": platform.machine(),
    "system": platform.system().lower(),
    "libc": libc[0] or "unknown",
    "libcVersion": libc[1] or "",
    "executable": base_executable(),
    "prefix": base_prefix(),
    "stdlib": sysconfig.get_paths()["stdlib"],
    "hasVenv": has_module("venv") and has_module("ensurepip"),
    "markers": markers,
}))
