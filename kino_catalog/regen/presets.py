"""Named parameter presets: JSON files in ``<library root>/presets/``, part of the library.

A preset is a frame's ``parameters`` kept under a name, minus the keys the
user leaves open (typically ``seed`` and ``prompt``), which a regeneration
from the preset must then supply (``regen --preset NAME --set seed=...``).
Presets are files, not rows, so they travel with the library and need no
rebuild.  Their top level deliberately has no ``plugin``+``parameters`` pair,
so the indexer never mistakes one for a frame (it lists them as ignored JSON).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from typing import Any

from kino_catalog.errors import SidecarParseError, UsageError
from kino_catalog.sidecar import encode_sidecar, loads_exact, read_sidecar_bytes, write_atomic
from kino_catalog.sidecar.limits import MAX_PRESET_BYTES

__all__ = [
    "PRESETS_FOLDER",
    "PRESET_KIND",
    "Preset",
    "delete_preset",
    "list_presets",
    "load_preset",
    "parameters_from_file",
    "preset_path",
    "save_preset",
]

PRESETS_FOLDER = "presets"
PRESET_KIND = "kino-catalog preset"
# A name becomes a file name: no separators, no leading dot, nothing a shell mangles.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Preset:
    """One preset: parameters to start from, and the keys a request must still supply."""

    name: str
    parameters: dict[str, Any]
    open_keys: tuple[str, ...] = ()
    plugin: str | None = None
    plugin_version: str | None = None
    source: str | None = None  # the sidecar or file it was made from
    path: str = ""

    def missing(self, overrides: dict[str, Any]) -> list[str]:
        """The open keys ``overrides`` does not fill (regen must refuse to run without them)."""
        return [key for key in self.open_keys if key not in overrides]

    def as_document(self) -> dict[str, Any]:
        """A sidecar-shaped document, for building a request like from a frame's sidecar."""
        return {
            "plugin": self.plugin,
            "plugin_version": self.plugin_version,
            "parameters": dict(self.parameters),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "plugin": self.plugin,
            "plugin_version": self.plugin_version,
            "parameters": self.parameters,
            "open": list(self.open_keys),
            "source": self.source,
            "path": self.path,
        }


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"bad preset name {name!r}: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return name


def preset_path(root: str | os.PathLike[str], name: str) -> str:
    """Where preset ``name`` lives under a library root.

    Raises:
        UsageError: the name could escape the presets folder or is otherwise unusable.
    """
    return os.path.join(os.fspath(root), PRESETS_FOLDER, _check_name(name) + ".json")


def save_preset(
    root: str | os.PathLike[str],
    name: str,
    parameters: dict[str, Any],
    *,
    open_keys: tuple[str, ...] | list[str] = (),
    plugin: str | None = None,
    plugin_version: str | None = None,
    source: str | None = None,
    overwrite: bool = False,
) -> Preset:
    """Write a preset (atomically); ``open_keys`` are dropped from the parameters.

    Raises:
        UsageError: bad name, or the preset exists and ``overwrite`` is False.
        SidecarLimitError: the preset file would be over MAX_PRESET_BYTES (or
            unreadable); nothing is written.
    """
    path = preset_path(root, name)
    if os.path.exists(path) and not overwrite:
        raise UsageError(f"preset {name!r} exists ({path}); use --force to replace it")
    open_keys = tuple(dict.fromkeys(open_keys))
    kept = {key: value for key, value in parameters.items() if key not in open_keys}
    doc = {
        "kind": PRESET_KIND,
        "version": 1,
        "name": name,
        "created_at": dt.datetime.now().replace(microsecond=0).isoformat(),
        "preset": {
            "plugin": plugin,
            "plugin_version": plugin_version,
            "parameters": kept,
            "open": list(open_keys),
            "source": source,
        },
    }
    data = encode_sidecar(doc, path, max_bytes=MAX_PRESET_BYTES, what="preset")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomic(path, data)
    return Preset(name, kept, open_keys, plugin, plugin_version, source, path)


def load_preset(root: str | os.PathLike[str], name: str) -> Preset:
    """Read preset ``name`` of a library root; its parameters are exact (big ints stay ints).

    Raises:
        UsageError: no such preset.
        SidecarParseError: the file is not a readable preset.
    """
    path = preset_path(root, name)
    try:
        data = read_sidecar_bytes(path)
    except FileNotFoundError as exc:
        raise UsageError(f"no preset {name!r} in {os.path.dirname(path)}") from exc
    doc = loads_exact(data, path)
    body = doc.get("preset") if isinstance(doc, dict) and doc.get("kind") == PRESET_KIND else None
    if not isinstance(body, dict) or not isinstance(body.get("parameters"), dict):
        raise SidecarParseError(path, "not a kino-catalog preset")
    open_keys = body.get("open") or []
    if not isinstance(open_keys, list) or not all(isinstance(k, str) for k in open_keys):
        raise SidecarParseError(path, "preset 'open' must be a list of key names")
    return Preset(
        name,
        body["parameters"],
        tuple(open_keys),
        body.get("plugin"),
        body.get("plugin_version"),
        body.get("source"),
        path,
    )


def list_presets(root: str | os.PathLike[str]) -> list[Preset]:
    """Every readable preset of a root, by name; unreadable files are skipped."""
    folder = os.path.join(os.fspath(root), PRESETS_FOLDER)
    try:
        names = sorted(entry[:-5] for entry in os.listdir(folder) if entry.endswith(".json"))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        try:
            found.append(load_preset(root, name))
        except (UsageError, SidecarParseError, OSError):
            continue
    return found


def delete_preset(root: str | os.PathLike[str], name: str) -> str:
    """Delete a preset; returns the path it had.

    Raises:
        UsageError: no such preset.
    """
    path = preset_path(root, name)
    try:
        os.unlink(path)
    except FileNotFoundError as exc:
        raise UsageError(f"no preset {name!r} in {os.path.dirname(path)}") from exc
    return path


def parameters_from_file(
    path: str | os.PathLike[str],
) -> tuple[dict[str, Any], str | None, str | None]:
    """(parameters, plugin, plugin_version) from a sidecar, a preset or a bare parameters file.

    Raises:
        UsageError: the file is missing or holds no parameters object.
        SidecarParseError: it is not readable JSON.
    """
    name = os.fspath(path)
    try:
        doc = loads_exact(read_sidecar_bytes(name), name)
    except FileNotFoundError as exc:
        raise UsageError(f"no such file: {name}") from exc
    if not isinstance(doc, dict):
        raise UsageError(f"{name}: expected a JSON object")
    if doc.get("kind") == PRESET_KIND and isinstance(doc.get("preset"), dict):
        body = doc["preset"]
        doc = {
            "parameters": body.get("parameters"),
            "plugin": body.get("plugin"),
            "plugin_version": body.get("plugin_version"),
        }
    if "parameters" in doc:
        params = doc["parameters"]
        if not isinstance(params, dict):
            raise UsageError(f"{name}: 'parameters' must be an object")
        plugin, version = doc.get("plugin"), doc.get("plugin_version")
        return (
            params,
            plugin if isinstance(plugin, str) else None,
            version if isinstance(version, str) else None,
        )
    return doc, None, None  # a bare parameters object
