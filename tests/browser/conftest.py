"""Browser tests: Playwright for Python driving Debian's chromium (tests/services/browser.sh installs it with
fonts-noto-cjk; no browser build is ever downloaded) against the real app served on 127.0.0.1.

Fixtures:
    live      the app on a free loopback port with a fresh SQLite database, the demo municipalities, an
              organisation chart and users (see USERS); `live.url(path)`
    page      a new browser page (ja-JP); at the end of the test, no console error and no CSP violation
    axe       `axe(page, name)`: runs axe-core (vendored from the npm registry) with page.evaluate — our CSP
              blocks injected script tags — and fails on serious or critical findings
    shot      `shot(page, name)`: a full-page screenshot in var/test-artifacts/screenshots/

Without chromium the tests are skipped with the reason, except under CI=true, where they fail: CI must never
pass without having run them (.ci/run installs the browser).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from engine import accounts
from engine.db import make_engine, make_session_factory, upgrade
from engine.demo import load_demo
from engine.organisation import import_chart, read_chart_file
from engine.residents import import_csv
from tests.conftest import in_ci
from web import create_app

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "vendor" / "axe-core-4.14.1" / "axe.min.js"
ARTIFACTS = ROOT / "var" / "test-artifacts" / "screenshots"
PASSWORD = "窓口で使う長いパスフレーズです"
MUNICIPALITY = "141305"  # 川崎市: the organisation chart of tests/fixtures/organisation
NANTO = "162108"  # 南砺市: its pack sets the 住民票 fee the core leaves open
# login → (display name, role, person in the organisation chart)
USERS = {
    "madoguchi": ("窓口 花子", "clerk", None),
    "tanaka": ("田中 花子", "clerk", "tanaka"),  # 児童手当係長
    "suzuki": ("鈴木 一郎", "approver", "suzuki"),  # こども家庭課長 (until 2026-03-31)
    "sato": ("佐藤 次郎", "approver", "sato"),  # 課長補佐: the first 代決者 of the 課長
    "bunseki": ("分析 三子", "analyst", None),
    "kanri": ("管理 四郎", "admin", None),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


def _chromium() -> str:
    found = os.environ.get("JICHI_TEST_CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    message = "chromium がないため、ブラウザーのテストを実行できません"
    if in_ci():
        pytest.fail(f"{message}（CI=true では必須です。.ci/run が tests/services/browser.sh でインストールします）",
                    pytrace=False)
    pytest.skip(f"{message}（bash tests/services/browser.sh --install でインストールできます）")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@dataclass
class Live:
    base: str
    database_url: str
    app: Any

    def url(self, path: str) -> str:
        return self.base + path


def _repository(root: Path) -> Path:
    """The project's procedures, rules and packs, and in 川崎市's pack the illustrative 専決 別表 that 決裁 needs
    (tests/fixtures/organisation/senketsu.rules; no sample pack ships one)."""
    shutil.copytree(ROOT / "processes", root / "processes")
    shutil.copytree(ROOT / "standard_core" / "rules", root / "standard_core" / "rules")
    for name in ("VERSION", "extension_points.json"):  # the standard's version and its manifest
        shutil.copy(ROOT / "standard_core" / name, root / "standard_core" / name)
    shutil.copytree(ROOT / "local_rules", root / "local_rules")
    shutil.copy(ROOT / "tests" / "fixtures" / "organisation" / "senketsu.rules",
                root / "local_rules" / "141305-kawasaki" / "rules" / "senketsu.rules")
    return root


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    url = f"sqlite:///{tmp_path / 'jichi.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    charts = ROOT / "tests" / "fixtures" / "organisation"
    with make_session_factory(engine)() as s:
        load_demo(s)
        import_chart(s, read_chart_file(charts / "chart_2024.toml"), "人事課")
        for login, (name, role, person) in USERS.items():
            accounts.add_user(s, login=login, display_name=name, actor="admin", person_code=person)
            accounts.set_password(s, login=login, password=PASSWORD, actor="admin")
            accounts.grant(s, login=login, municipality=MUNICIPALITY, role=role, actor="admin")
        accounts.grant(s, login="madoguchi", municipality=NANTO, role="clerk", actor="admin")
        csv = ROOT / "tests" / "fixtures" / "residents" / "kawasaki.csv"
        import_csv(s, MUNICIPALITY, csv.read_text(encoding="utf-8"), csv.name, "admin")
        s.commit()
    engine.dispose()
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECURE_COOKIES": False, "RUN_JOBS": True,
                      "PROJECT_ROOT": _repository(tmp_path / "repo")})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{server.server_port}", url, app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        from web import jobs_runner
        from web.db import get_engine

        jobs_runner.stop(app)

        with app.app_context():
            get_engine().dispose()


@dataclass
class Console:
    errors: list[str] = field(default_factory=list)
    # 4xx answers the app sends on purpose (422 with inline errors, 409) are logged by chromium as failed loads
    expected: list[str] = field(default_factory=lambda: ["status of 422", "status of 409"])


@pytest.fixture
def console() -> Console:
    """What the page logged; a test that provokes an error on purpose adds its text to `expected`."""
    return Console()


@pytest.fixture
def page(browser: Any, console: Console, live: Live) -> Iterator[Any]:
    """Depends on `live` so that the server stops only after the page is closed (no request cut off)."""
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.on("console", lambda m: console.errors.append(f"{m.text} @ {m.location}") if m.type == "error" else None)
    opened.on("pageerror", lambda e: console.errors.append(str(e)))
    opened.set_default_timeout(10_000)
    yield opened
    context.close()
    unexpected = [e for e in console.errors if not any(x in e for x in console.expected)]
    assert unexpected == [], unexpected


@pytest.fixture
def axe() -> Callable[[Any, str], list[dict[str, Any]]]:
    source = AXE.read_text(encoding="utf-8")

    def run(page: Any, name: str) -> list[dict[str, Any]]:
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(source)
        result = page.evaluate("""async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }""")
        serious = [v for v in result if v["impact"] in ("serious", "critical")]
        assert serious == [], (name, serious)
        return list(result)

    return run


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name.split('[')[0]}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def sign_in(page: Any, live: Live, login: str, then: str = "/inbox") -> None:
    page.goto(live.url(f"/login?next={then}"))
    page.get_by_label("ログイン名").fill(login)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(live.url(then) + "*")
