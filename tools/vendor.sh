#!/usr/bin/env bash
# Vendor the front-end libraries from the npm registry (no CDN: municipal networks are closed).
# Each package is fetched with `npm pack` at the pinned version below, its npm integrity checked by npm, and
# the files the app serves copied with the package's licence into web/static/vendor/<name>-<version>/ (axe-core,
# used only by the browser tests, into tests/vendor/). web/static/vendor/MANIFEST.json records the sha256 of
# every copied file; tests/test_vendor.py checks the tree against it.
#
#   bash tools/vendor.sh        # after changing a version here; commit the result
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
HTMX=2.0.11          # 2.0.x on purpose: htmx 4 changed error swapping and attribute inheritance
BPMN_JS=18.31.1
AXE=4.14.1

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX" "bpmn-js@$BPMN_JS" "axe-core@$AXE" >/dev/null)
for f in "$work"/*.tgz; do mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done

copy() {  # package-dir destination file... (a leading dist/ is dropped: the repository ignores dist/ folders)
  local from="$1" to="$2"; shift 2
  mkdir -p "$to"
  for file in "$@"; do
    local target="${file#dist/}"
    mkdir -p "$to/$(dirname "$target")"; cp "$from/package/$file" "$to/$target"
  done
}
rm -rf web/static/vendor tests/vendor
copy "$work/htmx.org-$HTMX" "web/static/vendor/htmx-$HTMX" dist/htmx.min.js LICENSE
copy "$work/bpmn-js-$BPMN_JS" "web/static/vendor/bpmn-js-$BPMN_JS" \
  dist/bpmn-navigated-viewer.production.min.js dist/assets/diagram-js.css dist/assets/bpmn-js.css \
  dist/assets/bpmn-font/css/bpmn.css dist/assets/bpmn-font/font/bpmn.woff2 dist/assets/bpmn-font/font/bpmn.woff \
  LICENSE
copy "$work/axe-core-$AXE" "tests/vendor/axe-core-$AXE" axe.min.js LICENSE

python3 - "$HTMX" "$BPMN_JS" "$AXE" <<'PY'
import hashlib, json, pathlib, sys
htmx, bpmn, axe = sys.argv[1:]
files = {}
for root in (pathlib.Path("web/static/vendor"), pathlib.Path("tests/vendor")):
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "MANIFEST.json"):
        files[path.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
manifest = {"source": "npm registry (npm pack)", "packages": {"htmx.org": htmx, "bpmn-js": bpmn, "axe-core": axe},
            "files": files}
pathlib.Path("web/static/vendor/MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
PY
echo "vendored htmx $HTMX, bpmn-js $BPMN_JS, axe-core $AXE"
