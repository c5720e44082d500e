"""The core's extension points are part of its version: changing them without a version bump fails."""

from __future__ import annotations

import json
from pathlib import Path

from engine.manifest import MANIFEST_FILE, VERSION_FILE, extension_points, manifest_problems, write_manifest

ROOT = Path(__file__).resolve().parent.parent
OPEN = "開放 決定 手数料: 金額 { 基本: 真 のとき 300円; }\n開放 パラメータ 単価: 金額 { }\n"


def make_core(root: Path, rules: str, version: str) -> None:
    (root / "standard_core" / "rules").mkdir(parents=True, exist_ok=True)
    (root / "standard_core" / "rules" / "core.rules").write_text(rules, encoding="utf-8")
    (root / VERSION_FILE).write_text(version + "\n", encoding="utf-8")


def test_the_repository_manifest_matches_the_core() -> None:
    assert manifest_problems(ROOT) == []


def test_changing_an_extension_point_without_a_version_bump_fails(tmp_path: Path) -> None:
    make_core(tmp_path, OPEN, "1.0.0")
    write_manifest(tmp_path)
    assert manifest_problems(tmp_path) == []
    assert [p["name"] for p in extension_points(tmp_path)] == ["手数料", "単価"]

    make_core(tmp_path, OPEN.replace("開放 決定", "決定"), "1.0.0")  # 手数料 closed, same version
    problems = manifest_problems(tmp_path)
    assert any("standard_core/VERSION を上げて" in p for p in problems)

    make_core(tmp_path, OPEN.replace("開放 決定", "決定"), "1.1.0")
    write_manifest(tmp_path)
    assert manifest_problems(tmp_path) == []
    history = json.loads((tmp_path / MANIFEST_FILE).read_text(encoding="utf-8"))["versions"]
    assert [v["version"] for v in history] == ["1.0.0", "1.1.0"]
    assert history[0]["digest"] != history[1]["digest"]


def test_a_closed_definition_is_not_an_extension_point(tmp_path: Path) -> None:
    make_core(tmp_path, "決定 手数料: 金額 { それ以外 300円; }\nパラメータ 単価: 金額 { 2020-01-01 から 1円; }\n", "1.0.0")
    assert extension_points(tmp_path) == []
