#!/usr/bin/env bash
# Vendor the front-end libraries from the npm registry (no CDN: municipal networks are closed).
# Each package is fetched with `npm pack` at the pinned version below, its npm integrity checked by npm, and
# the files the app serves copied with the package's licence into web/static/vendor/<name>-<version>/ (axe-core,
# used only by the browser tests, into tests/vendor/). web/static/vendor/MANIFEST.json records the sha256 of
# every copied file; tests/test_vendor.py checks the tree against it.
#
# The studio's modeler has no ready-made browser build (bpmn-js-properties-panel ships ES modules only): it is
# bundled here with esbuild from tools/modeler (package.json and package-lock.json pin every package, `npm ci`
# checks their integrity; src/ holds jichi's properties provider and the Japanese translations) into
# web/static/vendor/bpmn-modeler-<bpmn-js version>/modeler.js, with the licences of every bundled package.
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

build="$work/modeler" modeler="web/static/vendor/bpmn-modeler-$BPMN_JS"
mkdir -p "$build" && cp -r tools/modeler/package.json tools/modeler/package-lock.json tools/modeler/src "$build/"
(cd "$build" && npm ci --silent --no-audit --no-fund --legacy-peer-deps --ignore-scripts >/dev/null)
grep -q "\"version\": \"$BPMN_JS\"" "$build/node_modules/bpmn-js/package.json" \
  || { echo "tools/modeler pins another bpmn-js than $BPMN_JS" >&2; exit 1; }
(cd "$build" && node_modules/.bin/esbuild src/index.js --bundle --format=iife --global-name=JichiModeler --minify \
  --target=es2020 --legal-comments=none --metafile=meta.json --outfile=out/modeler.js --log-level=warning)
mkdir -p "$modeler/assets"  # bpmn-js's own stylesheets and font: the viewer's copy above (same version)
cp "$build/out/modeler.js" "$modeler/"
cp "$build/node_modules/@bpmn-io/properties-panel/dist/assets/properties-panel.css" "$modeler/assets/"
node - "$build" "$modeler/THIRD-PARTY-LICENSES.txt" <<'JS'
// The licence of every npm package with code in the bundle (from esbuild's metafile), with name and version.
const fs = require("fs"), path = require("path");
const [build, out] = process.argv.slice(2);
const inputs = Object.keys(JSON.parse(fs.readFileSync(path.join(build, "meta.json"))).inputs);
const names = new Set();
for (const input of inputs) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) names.add(m[1]);
}
names.add("@bpmn-io/properties-panel");  // its stylesheet is copied too
let text = "Packages bundled into modeler.js (and properties-panel.css), from the npm registry, with their licences.\n";
for (const name of [...names].sort()) {
  const dir = path.join(build, "node_modules", name);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json")));
  const file = fs.readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f));
  if (!file && !pkg.license) throw new Error("no licence in " + name);
  const body = file ? fs.readFileSync(path.join(dir, file), "utf8").trim()
    : pkg.license + " licence, as its package.json declares (the package ships no licence file); author: " +
      (typeof pkg.author === "string" ? pkg.author : (pkg.author && pkg.author.name) || "unknown");
  text += "\n==== " + name + " " + pkg.version + " (" + pkg.license + ") ====\n\n" + body + "\n";
}
fs.writeFileSync(out, text);
JS

python3 - "$HTMX" "$BPMN_JS" "$AXE" <<'PY'
import hashlib, json, pathlib, sys
htmx, bpmn, axe = sys.argv[1:]
files = {}
for root in (pathlib.Path("web/static/vendor"), pathlib.Path("tests/vendor")):
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "MANIFEST.json"):
        files[path.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
modeler = json.loads(pathlib.Path("tools/modeler/package.json").read_text(encoding="utf-8"))["dependencies"]
manifest = {"source": "npm registry (npm pack; the studio modeler: npm ci of tools/modeler, bundled with esbuild)",
            "packages": {"htmx.org": htmx, "bpmn-js": bpmn, "axe-core": axe},
            "modeler": modeler, "files": files}
pathlib.Path("web/static/vendor/MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
PY
echo "vendored htmx $HTMX, bpmn-js $BPMN_JS (viewer and studio modeler), axe-core $AXE"
