#!/usr/bin/env bash
# Make Debian's chromium and the Japanese fonts (fonts-noto-cjk) available to the browser tests (tests/browser/),
# and print the path of the chromium binary. Playwright drives this browser; no browser build is ever downloaded.
#
#   bash tests/services/browser.sh [--install]
#
# Installs with apt-get only with --install or when CI=true (CI must never skip the browser tests). Prints only
# the path on stdout; when chromium cannot be had, prints the reason on stderr and exits 1. Idempotent.
set -euo pipefail

say() { echo "browser.sh: $*" >&2; }

install=false
case "${CI:-}" in true | TRUE | True | 1 | yes) install=true ;; esac
for argument in "$@"; do
    case "$argument" in
        --install) install=true ;;
        *) say "不明な引数です: $argument（使えるのは --install だけです）"; exit 1 ;;
    esac
done

have_fonts() { fc-list :lang=ja 2>/dev/null | grep -qi "noto"; }
if ! command -v chromium >/dev/null || ! have_fonts; then
    if [ "$install" != true ]; then
        say "chromium または fonts-noto-cjk がありません（--install で apt-get からインストールします）"
        exit 1
    fi
    if [ "$(id -u)" = 0 ]; then apt=(apt-get); else apt=(sudo -n apt-get); fi
    say "chromium と fonts-noto-cjk をインストールします…"
    "${apt[@]}" update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends chromium fonts-noto-cjk fontconfig >&2
fi
command -v chromium || { say "chromium が見つかりません"; exit 1; }
