#!/usr/bin/env bash
# axe-core, the accessibility checker the browser tests run in every page they visit, from
# the npm registry into a cache outside the work tree. Safe to run again: it only acts when
# the pinned version is missing. Prints the path of axe.min.js.
set -euo pipefail

VERSION="4.14.1"
CACHE="${LODGE_AXE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lodge/axe-core-$VERSION}"
SCRIPT="$CACHE/node_modules/axe-core/axe.min.js"
if [ ! -s "$SCRIPT" ]; then
  mkdir -p "$CACHE"
  npm install --prefix "$CACHE" --no-save --no-audit --no-fund --silent "axe-core@$VERSION" >&2
fi
echo "$SCRIPT"
