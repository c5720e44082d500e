"""The vendored front-end libraries (tools/vendor.sh): exactly the files of web/static/vendor/MANIFEST.json with
their recorded sha256, each package with its licence, htmx pinned to 2.0.x; and no page loads anything from
another site (municipal networks are closed: no CDN)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "web" / "static" / "vendor" / "MANIFEST.json").read_text(encoding="utf-8"))


def test_vendored_files_match_the_manifest() -> None:
    on_disk = {p.relative_to(ROOT).as_posix() for root in ("web/static/vendor", "tests/vendor")
               for p in (ROOT / root).rglob("*") if p.is_file() and p.name != "MANIFEST.json"}
    assert on_disk == set(MANIFEST["files"])
    for name, digest in MANIFEST["files"].items():
        assert hashlib.sha256((ROOT / name).read_bytes()).hexdigest() == digest, name


def test_each_package_keeps_its_licence_and_htmx_is_2_0() -> None:
    packages = MANIFEST["packages"]
    assert re.fullmatch(r"2\.0\.\d+", packages["htmx.org"])  # htmx 4 changed error swapping and inheritance
    folders = {name[:name.index("/", name.index("vendor/") + len("vendor/"))] for name in MANIFEST["files"]}
    modeler = f"web/static/vendor/bpmn-modeler-{packages['bpmn-js']}"
    assert len(folders) == 4 and modeler in folders
    for folder in folders - {modeler}:
        assert f"{folder}/LICENSE" in MANIFEST["files"], folder
    assert "bpmn.io" in (ROOT / "web/static/vendor" / f"bpmn-js-{packages['bpmn-js']}" / "LICENSE").read_text()


def test_the_modeler_bundle_lists_the_licence_of_each_bundled_package() -> None:
    """The studio's modeler is one esbuild bundle (tools/modeler): its licence file names every package pinned
    there, each with the version the bundle was built from and its licence text."""
    packages = MANIFEST["packages"]
    licences = (ROOT / f"web/static/vendor/bpmn-modeler-{packages['bpmn-js']}/THIRD-PARTY-LICENSES.txt").read_text(
        encoding="utf-8")
    lock = json.loads((ROOT / "tools/modeler/package-lock.json").read_text(encoding="utf-8"))["packages"]
    assert MANIFEST["modeler"]["bpmn-js"] == packages["bpmn-js"]  # the viewer and the modeler are one version
    for name, version in MANIFEST["modeler"].items():
        assert lock[f"node_modules/{name}"]["version"] == version, name
        assert f"==== {name} {version} " in licences, name
    for bundled in ("preact", "diagram-js", "bpmn-moddle", "min-dash"):  # transitive packages are listed too
        assert re.search(rf"^==== {re.escape(bundled)} \d", licences, re.M), bundled
    assert licences.count("Permission is hereby granted") >= 10


def test_templates_load_nothing_from_another_site() -> None:
    for template in (ROOT / "web" / "templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), template
