#!/usr/bin/env bash
# Installs what is missing; a second run finds everything and returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# the file the PDF printer embeds (api/paper.py); not `fc-list | grep -q`, which
# under pipefail fails whenever grep stops reading early, and reinstalled the fonts every run
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || need_apt+=(fonts-noto-cjk)
command -v pdftotext >/dev/null 2>&1 || need_apt+=(poppler-utils)  # tests read printed PDFs
command -v storescu >/dev/null 2>&1 || need_apt+=(dcmtk)  # tests send with a real DICOM peer
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)  # recordings: probe, faststart, poster (issue 16)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v uv >/dev/null 2>&1 && [ ! -x "$HOME/.local/bin/uv" ]; then
  echo "setup: installing uv"
  python3 -m pip install --user --quiet uv 2>/dev/null \
    || python3 -m pip install --user --quiet --break-system-packages uv
fi
UV=$(command -v uv || echo "$HOME/.local/bin/uv")
# Bytecode once at install time: with PYTHONDONTWRITEBYTECODE set, every process would
# otherwise compile Prefect and its dependencies again (seconds on two cores). A second
# run finds it up to date in about a second.
"$UV" sync --frozen --quiet --compile-bytecode
# the translation catalogues (locale/*/LC_MESSAGES/messages.mo; kernel.i18n also compiles a
# missing or stale one on first use)
"$UV" run --frozen pybabel -q compile -d locale -D messages

if [ ! -f ui/node_modules/.package-lock.json ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  echo "setup: installing browser libraries from npm"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
fi
