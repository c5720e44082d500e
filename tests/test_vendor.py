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
    assert len(folders) == 3
    for folder in folders:
        assert f"{folder}/LICENSE" in MANIFEST["files"], folder
    assert "bpmn.io" in (ROOT / "web/static/vendor" / f"bpmn-js-{packages['bpmn-js']}" / "LICENSE").read_text()


def test_templates_load_nothing_from_another_site() -> None:
    for template in (ROOT / "web" / "templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), template
