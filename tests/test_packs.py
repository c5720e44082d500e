"""pack.toml loading: a good/bad table with the expected diagnostics (code, line) beside each input."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.packs import check_digit, discover_packs, is_valid_code, load_pack
from standard_core.diagnostics import Severity

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
id = "141305-kawasaki"
name = "川崎市"
version = "1.2.0"
municipalities = ["141305"]
vendor = "サンプル"
"""


def write_pack(parent: Path, folder: str, text: str) -> Path:
    directory = parent / folder
    directory.mkdir(parents=True)
    (directory / "pack.toml").write_text(text, encoding="utf-8")
    return directory


# (folder, pack.toml text, expected [(code, line)])
CASES = {
    "good": ("141305-kawasaki", GOOD, []),
    "good-prerelease": (
        "141305-kawasaki",
        GOOD.replace('"1.2.0"', '"2.0.0-rc.1+build.5"'),
        [],
    ),
    "good-multiline-list": (
        "270008-osaka",
        'id = "270008-osaka"\nversion = "0.1.0"\nmunicipalities = [\n  "270008",\n  "272183",\n]\n',
        [],
    ),
    "toml-syntax": ("141305-kawasaki", GOOD.replace('version = "1.2.0"', "version = 1.2.0"), [("PCK601", 3)]),
    "toml-unclosed-string": ("141305-kawasaki", GOOD.replace('"サンプル"', '"サンプル'), [("PCK601", 5)]),
    "missing-municipalities": (
        "141305-kawasaki",
        GOOD.replace('municipalities = ["141305"]\n', ""),
        [("PCK603", 1)],
    ),
    "missing-everything": ("141305-kawasaki", 'name = "川崎市"\n', [("PCK603", 1)] * 3),
    "version-not-string": ("141305-kawasaki", GOOD.replace('"1.2.0"', "1"), [("PCK604", 3)]),
    "municipalities-empty": ("141305-kawasaki", GOOD.replace('["141305"]', "[]"), [("PCK604", 4)]),
    "municipalities-number": ("141305-kawasaki", GOOD.replace('["141305"]', "[141305]"), [("PCK604", 4)]),
    "bad-id": ("川崎", GOOD.replace('"141305-kawasaki"', '"川崎"'), [("PCK605", 1)]),
    "id-bad-check-digit": (
        "141306-kawasaki",
        GOOD.replace('"141305-kawasaki"', '"141306-kawasaki"'),
        [("PCK608", 1)],
    ),
    "bad-semver": ("141305-kawasaki", GOOD.replace('"1.2.0"', '"1.2"'), [("PCK606", 3)]),
    "good-core-range": ("141305-kawasaki", GOOD + 'core = ">=0.2.0,<0.3.0"\n', []),
    "bad-core-range": ("141305-kawasaki", GOOD + 'core = "0.2 から"\n', [("PCK616", 6)]),
    "semver-leading-zero": ("141305-kawasaki", GOOD.replace('"1.2.0"', '"1.02.0"'), [("PCK606", 3)]),
    "code-five-digits": ("141305-kawasaki", GOOD.replace('["141305"]', '["14130"]'), [("PCK607", 4)]),
    "code-fullwidth": ("141305-kawasaki", GOOD.replace('["141305"]', '["１４１３０５"]'), [("PCK607", 4)]),
    "code-check-digit": (
        "141305-kawasaki",
        GOOD.replace('["141305"]', '[\n  "141305",\n  "141306",\n]'),
        [("PCK608", 6)],
    ),
    "code-duplicate": (
        "141305-kawasaki",
        GOOD.replace('["141305"]', '["141305", "141305"]'),
        [("PCK609", 4)],
    ),
    "folder-mismatch": ("kawasaki", GOOD, [("PCK610", 1)]),
    "self-base": ("141305-kawasaki", GOOD + 'base = "141305-kawasaki"\n', [("PCK613", 6)]),
    "unknown-key": ("141305-kawasaki", GOOD + 'munipalities = ["141305"]\n', [("PCK614", 6)]),
}


@pytest.mark.parametrize(("folder", "text", "expected"), list(CASES.values()), ids=list(CASES))
def test_load_pack(tmp_path: Path, folder: str, text: str, expected: list[tuple[str, int]]) -> None:
    pack, diagnostics = load_pack(write_pack(tmp_path, folder, text))
    assert sorted((d.code, d.span.line) for d in diagnostics) == sorted(expected)
    has_error = any(d.severity is Severity.ERROR for d in diagnostics)
    assert (pack is None) == has_error
    for d in diagnostics:
        assert d.span.line >= 1
        assert d.span.column >= 1
        assert d.span.file.endswith("pack.toml")
        assert d.hint


def test_good_pack_fields(tmp_path: Path) -> None:
    directory = write_pack(tmp_path, "141305-kawasaki", GOOD)
    (directory / "processes").mkdir()
    for name in ("b.bpmn", "a.bpmn", "notes.txt"):
        (directory / "processes" / name).write_text("", encoding="utf-8")
    pack, diagnostics = load_pack(directory)
    assert diagnostics == []
    assert pack is not None
    assert (pack.id, pack.version, pack.municipalities) == ("141305-kawasaki", "1.2.0", ("141305",))
    assert (pack.name, pack.vendor, pack.base) == ("川崎市", "サンプル", None)
    assert [p.name for p in pack.process_files] == ["a.bpmn", "b.bpmn"]
    assert pack.rule_files == ()


def test_toml_error_points_at_the_value(tmp_path: Path) -> None:
    _, diagnostics = load_pack(write_pack(tmp_path, "141305-kawasaki", GOOD.replace('"1.2.0"', "1.2.0")))
    (d,) = diagnostics
    assert (d.span.line, d.span.column) == (3, 14)
    assert d.source_line == "version = 1.2.0"
    assert "pack.toml:3:14: PCK601" in d.format()


def test_missing_manifest(tmp_path: Path) -> None:
    directory = tmp_path / "141305-kawasaki"
    directory.mkdir()
    pack, diagnostics = load_pack(directory)
    assert pack is None
    assert [d.code for d in diagnostics] == ["PCK602"]


def test_not_utf8(tmp_path: Path) -> None:
    directory = tmp_path / "141305-kawasaki"
    directory.mkdir()
    (directory / "pack.toml").write_bytes(GOOD.encode("shift_jis"))
    pack, diagnostics = load_pack(directory)
    assert pack is None
    assert [d.code for d in diagnostics] == ["PCK615"]


def manifest(pack_id: str, code: str, base: str | None = None) -> str:
    text = f'id = "{pack_id}"\nversion = "0.1.0"\nmunicipalities = ["{code}"]\n'
    return text + (f'base = "{base}"\n' if base else "")


def test_discover_resolves_layers(tmp_path: Path) -> None:
    write_pack(tmp_path, "270008-osaka", manifest("270008-osaka", "270008"))
    write_pack(tmp_path, "272183-daito", manifest("272183-daito", "272183", base="270008-osaka"))
    write_pack(tmp_path, "272078-takatsuki", manifest("272078-takatsuki", "272078", base="272183-daito"))
    (tmp_path / "README.md").write_text("not a pack", encoding="utf-8")
    (tmp_path / ".drafts").mkdir()
    packs, diagnostics = discover_packs(tmp_path)
    assert diagnostics == []
    assert {p.id: p.layers for p in packs} == {
        "270008-osaka": ("270008-osaka",),
        "272183-daito": ("270008-osaka", "272183-daito"),
        "272078-takatsuki": ("270008-osaka", "272183-daito", "272078-takatsuki"),
    }


def test_discover_unknown_base(tmp_path: Path) -> None:
    write_pack(tmp_path, "272183-daito", manifest("272183-daito", "272183", base="270008-osak"))
    packs, diagnostics = discover_packs(tmp_path)
    assert packs == []
    assert [(d.code, d.span.line) for d in diagnostics] == [("PCK612", 4)]


def test_discover_base_cycle(tmp_path: Path) -> None:
    write_pack(tmp_path, "270008-osaka", manifest("270008-osaka", "270008", base="272183-daito"))
    write_pack(tmp_path, "272183-daito", manifest("272183-daito", "272183", base="270008-osaka"))
    write_pack(tmp_path, "272078-takatsuki", manifest("272078-takatsuki", "272078", base="272183-daito"))
    packs, diagnostics = discover_packs(tmp_path)
    assert packs == []
    codes = sorted((d.code, Path(d.span.file).parent.name) for d in diagnostics)
    # One diagnostic for the cycle, one for the pack that stands on it.
    assert codes == [("PCK612", "272078-takatsuki"), ("PCK613", "272183-daito")]
    cycle = next(d for d in diagnostics if d.code == "PCK613")
    assert "270008-osaka → 272183-daito → 270008-osaka" in cycle.message


def test_discover_duplicate_id(tmp_path: Path) -> None:
    # The copy sorts first, yet the folder named after the id keeps it.
    write_pack(tmp_path, "141305-a-copy", GOOD)
    write_pack(tmp_path, "141305-kawasaki", GOOD)
    packs, diagnostics = discover_packs(tmp_path)
    assert [p.id for p in packs] == ["141305-kawasaki"]
    assert sorted((d.code, Path(d.span.file).parent.name) for d in diagnostics) == [
        ("PCK610", "141305-a-copy"),
        ("PCK611", "141305-a-copy"),
    ]


def test_discover_missing_directory(tmp_path: Path) -> None:
    assert discover_packs(tmp_path / "local_rules") == ([], [])


def test_repository_packs_load_cleanly() -> None:
    packs, diagnostics = discover_packs(ROOT / "local_rules")
    assert [d.format() for d in diagnostics] == []
    layers = {p.id: p.layers for p in packs}
    assert layers["141305-kawasaki"] == ("141305-kawasaki",)
    assert layers["272183-daito"] == ("270008-osaka", "272183-daito")


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("141305", True),  # 川崎市
        ("272183", True),  # 大東市
        ("272078", True),  # 高槻市
        ("261009", True),  # 京都市
        ("270008", True),  # 大阪府
        ("141003", True),  # 横浜市
        ("141306", False),
        ("14130", False),
        ("１４１３０５", False),
        ("14130a", False),
    ],
)
def test_is_valid_code(code: str, valid: bool) -> None:
    assert is_valid_code(code) is valid


def test_check_digit_formula() -> None:
    # r = (6·1 + 5·4 + 4·1 + 3·3 + 2·0) mod 11 = 39 mod 11 = 6; check = (11 - 6) mod 10 = 5
    assert check_digit("14130") == 5


def test_a_pack_for_another_core_version_is_not_loaded(tmp_path: Path) -> None:
    (tmp_path / "standard_core").mkdir()
    (tmp_path / "standard_core" / "VERSION").write_text("0.2.0\n", encoding="utf-8")
    write_pack(tmp_path / "local_rules", "141305-kawasaki", GOOD + 'core = ">=0.3.0,<0.4.0"\n')
    write_pack(tmp_path / "local_rules", "162108-nanto",
               GOOD.replace("141305-kawasaki", "162108-nanto").replace("141305", "162108") + 'core = ">=0.2.0"\n')
    packs, found = discover_packs(tmp_path / "local_rules")
    assert [p.id for p in packs] == ["162108-nanto"] and packs[0].core == ">=0.2.0"
    assert [(d.code, d.span.line) for d in found] == [("PCK617", 6)]
    assert "0.2.0" in found[0].message and found[0].hint
