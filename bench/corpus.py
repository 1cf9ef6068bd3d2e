"""Writes the benchmark corpus: wheels that install into a realistic environment, offline.

    python corpus.py OUTDIR

45 packages, 180 modules each (about 8,100 .py files, ~10 KB each, plus the .pyc pip compiles for
them), a data file per package, a console script in every fifth and a compiled extension module in
every fifth: about 170 MB installed. The content is deterministic, so a run can reuse OUTDIR.
Also bench-bigdata (32 data files, 26 MB each, half random, half repetitive) and
requirements-1g.txt: the corpus plus that package, about 1 GB installed, for the memory measurement.
And bench-pkg-01 1.1 (one module changed) with requirements-pin.txt, the corpus with that one pin
changed, as a dependency bot's daily bump makes it.
"""
import hashlib
import base64
import zipfile
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "wheels"))
import build_wheels  # noqa: E402  (the example's wheel writer and C extension)

PACKAGES = 45
MODULES = 180


def module_source(rng, index):
    lines = ['"""Generated module %d."""' % index, "import math", ""]
    for f in range(24):
        args = ", ".join("a%d" % i for i in range(rng.randint(1, 4)))
        body = " + ".join("math.sqrt(abs(a%d) + %d)" % (i, rng.randint(1, 999)) for i in range(len(args.split(", "))))
        lines += [
            "def function_%d_%d(%s):" % (index, f, args),
            '    """%s"""' % " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "epsilon"]) for _ in range(30)),
            "    return %s" % body,
            "",
        ]
    return "\n".join(lines) + "\n"


def main(argv):
    outdir = os.path.abspath(argv[1])
    if not os.path.isdir(outdir):
        os.makedirs(outdir)
    ext_path, ext_data = build_wheels.build_extension()
    suffix = ext_path[len("terra_cext/_speed"):]
    tag = build_wheels.interpreter_tag()
    for p, version in [(p, "1.0") for p in range(PACKAGES)] + [(1, "1.1")]:
        rng = random.Random(p)
        name = "bench-pkg-%02d" % p
        pkg = name.replace("-", "_")
        files = {"%s/__init__.py" % pkg: "VERSION = '1.0'\n", "%s/data/table.txt" % pkg: "".join("%d\t%f\n" % (i, rng.random()) for i in range(2500))}
        for m in range(MODULES):
            files["%s/module_%03d.py" % (pkg, m)] = module_source(rng, m)
        if version != "1.0":
            files["%s/__init__.py" % pkg] = "VERSION = %r\n" % version
        scripts = {}
        if p % 5 == 0:
            files["%s/cli.py" % pkg] = "def main():\n    print('%s')\n    return 0\n" % name
            scripts[name] = "%s.cli:main" % pkg
        compiled = p % 5 == 2
        if compiled:
            files["%s/_speed%s" % (pkg, suffix)] = ext_data
        build_wheels.write_wheel(outdir, name, version, tag if compiled else "py2.py3-none-any", files, [], scripts, "false" if compiled else "true")
    pinned = lambda version: "".join(("bench-pkg-01==%s\n" % version) if p == 1 else ("bench-pkg-%02d\n" % p) for p in range(PACKAGES))
    with open(os.path.join(outdir, "requirements.txt"), "w") as handle:
        handle.write(pinned("1.0"))
    with open(os.path.join(outdir, "requirements-pin.txt"), "w") as handle:
        handle.write(pinned("1.1"))
    big_wheel(outdir)
    with open(os.path.join(outdir, "requirements-1g.txt"), "w") as handle:
        handle.write(pinned("1.0") + "bench-bigdata\n")
    return 0


def big_wheel(outdir, files=32, size=26 << 20):
    """Written file by file, stored uncompressed: 830 MB never sits in memory at once."""
    rng = random.Random(1)
    info = "bench_bigdata-1.0.dist-info"
    records = []
    with zipfile.ZipFile(os.path.join(outdir, "bench_bigdata-1.0-py3-none-any.whl"), "w", zipfile.ZIP_STORED) as archive:
        def add(path, data):
            archive.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
            records.append("%s,sha256=%s,%d" % (path, digest, len(data)))
        add("bench_bigdata/__init__.py", b"")
        for i in range(files):
            # Model weights and the like: some incompressible, some highly repetitive.
            data = rng.randbytes(size) if i % 2 == 0 else rng.randbytes(1 << 16) * (size >> 16)
            add("bench_bigdata/blob_%02d.bin" % i, data)
        add(info + "/METADATA", b"Metadata-Version: 2.1\nName: bench-bigdata\nVersion: 1.0\n")
        add(info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: terrarium-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(info + "/RECORD", "\n".join(records + [info + "/RECORD,,"]) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
