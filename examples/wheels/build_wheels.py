"""Builds the example wheels offline, with nothing but this interpreter and a C compiler.

    python build_wheels.py OUTDIR

terra-dep (pure Python), terra-demo (depends on terra-dep, has a console script and a data file),
terra-cext (a C extension, compiled for the interpreter running this script), terra-pth (a .pth file
with a relative directory and an import line) and terra-outside (a .pth naming a directory outside the
environment, as an editable install does). A wheel is a zip with a .dist-info folder, so it is written
directly: no setuptools, wheel package or index needed.
"""
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

SPEED_C = r"""
#include <Python.h>

static PyObject *add(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a + b);
}

static PyMethodDef methods[] = {{"add", add, METH_VARARGS, "Add two integers."}, {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speed", NULL, -1, methods};
PyMODINIT_FUNC PyInit__speed(void) { return PyModule_Create(&module); }
#else
PyMODINIT_FUNC init_speed(void) { Py_InitModule("_speed", methods); }
#endif
"""

PURE = {
    ("terra-dep", "1.0"): {
        "files": {"terra_dep/__init__.py": "def greet(name):\n    return 'hello, %s' % name\n"},
        "requires": [],
        "scripts": {},
    },
    ("terra-demo", "1.0"): {
        "files": {
            "terra_demo/__init__.py": "",
            "terra_demo/cli.py": (
                "import os\nimport sys\n\nimport terra_dep\n\n\n"
                "def message():\n"
                "    here = os.path.dirname(os.path.abspath(__file__))\n"
                "    with open(os.path.join(here, 'data', 'message.txt')) as handle:\n"
                "        return handle.read().strip()\n\n\n"
                "def main():\n"
                "    print(terra_dep.greet(message()))\n"
                "    print(sys.prefix)\n"
                "    return 0\n"
            ),
            "terra_demo/data/message.txt": "terrarium\n",
        },
        "requires": ["terra-dep>=1.0"],
        "scripts": {"terra-demo": "terra_demo.cli:main"},
    },
    # A .pth file as real packages ship them: a directory of site-packages added to sys.path, and an
    # import line run at start-up. Both must keep working wherever the environment goes.
    ("terra-pth", "1.0"): {
        "files": {
            "terra_pth.pth": "terra_pth_extra\nimport terra_pth_hook\n",
            "terra_pth_extra/terra_pth_mod.py": "VALUE = 'found through terra_pth.pth'\n",
            "terra_pth_hook.py": "import sys\nsys.terra_pth_hooked = True\n",
        },
        "requires": [],
        "scripts": {},
    },
    # What an editable install leaves: a .pth naming a source tree outside the environment.
    ("terra-outside", "1.0"): {
        "files": {"terra_outside.pth": "/srv/src/terra-outside\n"},
        "requires": [],
        "scripts": {},
    },
}


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return "%s,sha256=%s,%d" % (path, digest, len(data))


def write_wheel(outdir, name, version, tag, files, requires, scripts, purelib):
    dist = name.replace("-", "_")
    info = "%s-%s.dist-info" % (dist, version)
    meta = ["Metadata-Version: 2.1", "Name: %s" % name, "Version: %s" % version]
    meta += ["Requires-Dist: %s" % r for r in requires]
    contents = dict((path, data if isinstance(data, bytes) else data.encode("utf-8")) for path, data in files.items())
    contents[info + "/METADATA"] = ("\n".join(meta) + "\n").encode("utf-8")
    contents[info + "/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: terrarium-example\nRoot-Is-Purelib: %s\nTag: %s\n" % (purelib, tag)
    ).encode("utf-8")
    if scripts:
        lines = ["[console_scripts]"] + ["%s = %s" % item for item in sorted(scripts.items())]
        contents[info + "/entry_points.txt"] = ("\n".join(lines) + "\n").encode("utf-8")
    records = [record_line(path, data) for path, data in sorted(contents.items())]
    contents[info + "/RECORD"] = ("\n".join(records + [info + "/RECORD,,"]) + "\n").encode("utf-8")
    filename = os.path.join(outdir, "%s-%s-%s.whl" % (dist, version, tag))
    with zipfile.ZipFile(filename, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(contents):
            archive.writestr(path, contents[path])
    return filename


def build_extension():
    workdir = tempfile.mkdtemp(prefix="terra-cext-")
    source = os.path.join(workdir, "speed.c")
    with open(source, "w") as handle:
        handle.write(SPEED_C)
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or sysconfig.get_config_var("SO")
    output = os.path.join(workdir, "_speed" + suffix)
    include = sysconfig.get_paths()["include"]
    try:
        subprocess.check_call([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O2", "-I", include, source, "-o", output])
        with open(output, "rb") as handle:
            return "terra_cext/_speed" + suffix, handle.read()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def interpreter_tag():
    major, minor = sys.version_info[:2]
    abi = "cp%d%d%s" % (major, minor, getattr(sys, "abiflags", "") or ("mu" if major == 2 and sys.maxunicode > 0xFFFF else ("m" if major == 2 else "")))
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "cp%d%d-%s-%s" % (major, minor, abi, platform)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    outdir = os.path.abspath(argv[1])
    if not os.path.isdir(outdir):
        os.makedirs(outdir)
    for (name, version), spec in sorted(PURE.items()):
        write_wheel(outdir, name, version, "py2.py3-none-any", spec["files"], spec["requires"], spec["scripts"], "true")
    ext_path, ext_data = build_extension()
    files = {ext_path: ext_data, "terra_cext/__init__.py": "from terra_cext._speed import add\n"}
    write_wheel(outdir, "terra-cext", "1.0", interpreter_tag(), files, [], {}, "false")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
