#!/usr/bin/env bash
# Fetches the CDNOW data sets that ship in the `lifetimes` wheel (PyPI, MIT licence) for the
# lifetime-model tests and benchmark of stream-apps/enrich. Idempotent: the verified files are
# cached under $MINDSET_CACHE/cdnow/ and reused.
#
#   infra/fetch-cdnow.sh            prints the directory holding CDNOW_sample.txt,
#                                   cdnow_customers_summary.csv, … and the wheel's LICENSE.txt
#   infra/fetch-cdnow.sh --python   also makes a venv with lifetimes and the versions it works with
#                                   under $MINDSET_CACHE/pyenv-lifetimes; prints its python
#
# The wheel is downloaded by pip in hash-checking mode against the sha256 pinned below (PyPI's), checked
# again with sha256sum, and every extracted file is checked against the wheel's RECORD.
source "$(dirname "$0")/lib.sh"

LIFETIMES_VERSION=0.11.3
WHEEL=Lifetimes-$LIFETIMES_VERSION-py3-none-any.whl
WHEEL_SHA256=261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8
# lifetimes 0.11.3 predates numpy 2 and pandas 2.2; these work together on Python 3.11.
PYTHON_PINS="lifetimes==$LIFETIMES_VERSION numpy==1.26.4 scipy==1.13.1 pandas==2.1.4 autograd==1.9.1 dill==0.4.1"
PYTHON="${PYTHON:-python3}"

root="$MINDSET_CACHE/cdnow"
data="$root/lifetimes-$LIFETIMES_VERSION"
venv="$MINDSET_CACHE/pyenv-lifetimes"

want_python=0
case "${1:-}" in
  "") ;;
  --python) want_python=1 ;;
  *) echo "usage: $0 [--python]" >&2; exit 2 ;;
esac

mkdir -p "$root"
lock_service cdnow

if [ ! -f "$data/.verified" ]; then
  log "fetching $WHEEL from PyPI for the CDNOW data"
  requirement="$root/requirement.txt"
  echo "lifetimes==$LIFETIMES_VERSION --hash=sha256:$WHEEL_SHA256" >"$requirement"
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
    -r "$requirement" -d "$root/wheel" >&2
  echo "$WHEEL_SHA256  $root/wheel/$WHEEL" | sha256sum --check --quiet - >&2
  staging="$root/.staging.$$"
  rm -rf "$staging"
  "$PYTHON" - "$root/wheel/$WHEEL" "$staging" <<'PY'
import base64, csv, hashlib, io, os, sys, zipfile

wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
    record = {row[0]: row[1] for row in csv.reader(io.StringIO(z.read(record_name).decode())) if row}
    wanted = [n for n in names if n.startswith("lifetimes/datasets/") and not n.endswith(".py")]
    wanted += [n for n in names if n.endswith(".dist-info/LICENSE.txt")]
    os.makedirs(out)
    for name in wanted:
        body = z.read(name)
        digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
        if record.get(name) != "sha256=" + digest:
            sys.exit(f"{name}: its sha256 does not match the wheel's RECORD")
        with open(os.path.join(out, os.path.basename(name)), "wb") as f:
            f.write(body)
PY
  touch "$staging/.verified"
  rm -rf "$data"
  mv "$staging" "$data"
  log "CDNOW data verified in $data"
fi

if [ "$want_python" = 0 ]; then
  echo "$data"
  exit 0
fi

if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$PYTHON_PINS" ]; then
  log "making a venv with $PYTHON_PINS in $venv"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv" >&2
  # shellcheck disable=SC2086 # the pins are separate arguments
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $PYTHON_PINS >&2
  "$venv/bin/python" -c "import lifetimes" >&2
  echo "$PYTHON_PINS" >"$venv/.pins"
fi
echo "$venv/bin/python"
