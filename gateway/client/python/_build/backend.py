"""A PEP 517/660 build backend for the cxesdb package, standard library only.

pip runs it from the source tree (pyproject.toml's ``backend-path``), so that
``pip install .`` works on a machine without access to a package index: the
package is pure Python and needs no setuptools. It builds a
``py3-none-any`` wheel of the ``cxesdb`` folder, an sdist, and an editable
wheel (a .pth file naming this folder).
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "cxesdb"


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        raw = f.read()
    try:
        import tomllib
        return tomllib.loads(raw.decode("utf-8"))["project"]
    except ImportError:  # Python < 3.11: the few keys used below
        text = raw.decode("utf-8").split("[project]", 1)[1]
        out = {}
        for key in ("name", "version", "description", "requires-python"):
            m = re.search(r'^%s\s*=\s*"([^"]*)"' % re.escape(key), text, re.M)
            if m:
                out[key] = m.group(1)
        return out


def _names():
    p = _project()
    return p["name"], p["version"], p


def _metadata():
    name, version, p = _names()
    lines = ["Metadata-Version: 2.1", "Name: %s" % name,
             "Version: %s" % version]
    if p.get("description"):
        lines.append("Summary: %s" % p["description"])
    if p.get("requires-python"):
        lines.append("Requires-Python: %s" % p["requires-python"])
    lines.append("License: Apache-2.0")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _wheel_file():
    return (b"Wheel-Version: 1.0\nGenerator: cxesdb-backend\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n")


def _digest(data):
    return "sha256=" + base64.urlsafe_b64encode(
        hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def _package_files():
    base = os.path.join(ROOT, PACKAGE)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith(".py"):
                full = os.path.join(dirpath, fn)
                yield os.path.relpath(full, ROOT).replace(os.sep, "/"), full


def _write_wheel(wheel_directory, files):
    name, version, _ = _names()
    dist_info = "%s-%s.dist-info" % (name, version)
    filename = "%s-%s-py3-none-any.whl" % (name, version)
    files = list(files) + [
        (dist_info + "/METADATA", _metadata()),
        (dist_info + "/WHEEL", _wheel_file()),
        (dist_info + "/top_level.txt", (PACKAGE + "\n").encode()),
    ]
    record = []
    path = os.path.join(wheel_directory, filename)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in files:
            z.writestr(arcname, data)
            record.append("%s,%s,%d" % (arcname, _digest(data), len(data)))
        record.append(dist_info + "/RECORD,,")
        z.writestr(dist_info + "/RECORD", ("\n".join(record) + "\n").encode())
    return filename


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version, _ = _names()
    dist_info = "%s-%s.dist-info" % (name, version)
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    for fn, data in (("METADATA", _metadata()), ("WHEEL", _wheel_file())):
        with open(os.path.join(metadata_directory, dist_info, fn), "wb") as f:
            f.write(data)
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None,
                metadata_directory=None):
    files = []
    for arcname, full in _package_files():
        with open(full, "rb") as f:
            files.append((arcname, f.read()))
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None,
                   metadata_directory=None):
    pth = (ROOT + "\n").encode("utf-8")
    return _write_wheel(wheel_directory, [("_cxesdb_editable.pth", pth)])


def build_sdist(sdist_directory, config_settings=None):
    name, version, _ = _names()
    base = "%s-%s" % (name, version)
    filename = base + ".tar.gz"
    members = [("pyproject.toml", os.path.join(ROOT, "pyproject.toml")),
               ("_build/backend.py", os.path.join(ROOT, "_build", "backend.py"))]
    members += list(_package_files())
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz",
                      format=tarfile.PAX_FORMAT) as tar:
        for arcname, full in members:
            tar.add(full, arcname=base + "/" + arcname)
        info = tarfile.TarInfo(base + "/PKG-INFO")
        data = _metadata()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return filename
