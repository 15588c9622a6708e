#!/usr/bin/env bash
# Installs a CPU libtorch 2.4.0 for tch 0.17 / rust-bert 0.23 (stream-apps/nlp) from PyPI wheels only,
# idempotently, under $MINDSET_CACHE/libtorch-2.4.0 (about 440 MB). The recipe and why it works:
# docs in stream-apps/nlp/README.md ("libtorch").
#
#   infra/fetch-libtorch.sh      prints `export LIBTORCH=… LIBTORCH_CXX11_ABI=0` (eval it before cargo)
#
# PyPI's torch 2.4.0 wheel for Linux is a CUDA build. From it we keep the headers, the cmake files and
# the three CPU libraries (libtorch_cpu.so, libc10.so, libgomp); libtorch_cpu.so also links
# libcudart.so.12 and libcupti.so.12, taken from the two small nvidia wheels. The wheel's libtorch.so
# only links the CUDA half (900 MB), so an empty libtorch.so stands in for it and `-ltorch` resolves.
# The three wheels are downloaded by pip in hash-checking mode against the sha256 pinned below (PyPI's),
# checked again with sha256sum, every extracted file is checked against its wheel's RECORD, and the
# wheels are deleted once the directory is verified.
#
# Runtime lookup: stream-apps/nlp/build.rs writes an rpath to $LIBTORCH/lib into every binary it
# links, and libtorch_cpu.so finds its neighbours through its own $ORIGIN rpath, so LD_LIBRARY_PATH is
# not needed. A binary built elsewhere can use LD_LIBRARY_PATH=$LIBTORCH/lib instead.
source "$(dirname "$0")/lib.sh"

TORCH_VERSION=2.4.0
TORCH_WHEEL=torch-$TORCH_VERSION-cp311-cp311-manylinux1_x86_64.whl
TORCH_SHA256=e743adadd8c8152bb8373543964551a7cb7cc20ba898dc8f9c0cdbe47c283de0
CUDART_WHEEL=nvidia_cuda_runtime_cu12-12.1.105-py3-none-manylinux1_x86_64.whl
CUDART_SHA256=6e258468ddf5796e25f1dc591a31029fa317d97a0a94ed93468fc86301d61e40
CUPTI_WHEEL=nvidia_cuda_cupti_cu12-12.1.105-py3-none-manylinux1_x86_64.whl
CUPTI_SHA256=e54fde3983165c624cb79254ae9818a456eb6e87a7fd4d56a2352c24ee542d7e
PYTHON="${PYTHON:-python3}"

dest="$MINDSET_CACHE/libtorch-$TORCH_VERSION"
downloads="$MINDSET_CACHE/libtorch-$TORCH_VERSION.download"

case "$(uname -m)" in
  x86_64) ;;
  *) log "only Linux x86_64 is pinned here (found $(uname -m))"; exit 1 ;;
esac
lock_service libtorch

if [ ! -f "$dest/.verified" ]; then
  for tool in strip gcc ldd; do
    command -v "$tool" >/dev/null || { log "needs $tool (gcc, binutils, libc-bin)"; exit 1; }
  done
  mkdir -p "$downloads"
  log "fetching torch $TORCH_VERSION (797 MB) and two nvidia runtime wheels (15 MB) from PyPI"
  cat >"$downloads/requirements.txt" <<EOF
torch==$TORCH_VERSION --hash=sha256:$TORCH_SHA256
nvidia-cuda-runtime-cu12==12.1.105 --hash=sha256:$CUDART_SHA256
nvidia-cuda-cupti-cu12==12.1.105 --hash=sha256:$CUPTI_SHA256
EOF
  # The platform flags pick the same wheels whatever python runs pip.
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: --platform manylinux1_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
    -r "$downloads/requirements.txt" -d "$downloads" >&2
  (cd "$downloads" && sha256sum --check --quiet - >&2) <<EOF
$TORCH_SHA256  $TORCH_WHEEL
$CUDART_SHA256  $CUDART_WHEEL
$CUPTI_SHA256  $CUPTI_WHEEL
EOF
  staging="$MINDSET_CACHE/.libtorch-staging.$$"
  rm -rf "$staging"
  log "extracting headers and CPU libraries into $dest"
  "$PYTHON" - "$staging" "$downloads/$TORCH_WHEEL" "$downloads/$CUDART_WHEEL" "$downloads/$CUPTI_WHEEL" <<'PY'
import base64, csv, hashlib, io, os, sys, zipfile

out, torch_wheel, cudart_wheel, cupti_wheel = sys.argv[1:]
KEEP_LIBS = {"libtorch_cpu.so", "libc10.so", "libgomp-a34b3233.so.1"}

def extract(wheel, pick):
    """Writes every member `pick` maps to a path; checks each against the wheel's RECORD."""
    with zipfile.ZipFile(wheel) as z:
        record_name = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
        record = {r[0]: r[1] for r in csv.reader(io.StringIO(z.read(record_name).decode())) if r}
        count = 0
        for info in z.infolist():
            if info.is_dir():
                continue
            target = pick(info.filename)
            if target is None:
                continue
            h = hashlib.sha256()
            path = os.path.join(out, target)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with z.open(info) as src, open(path, "wb") as dst:
                while chunk := src.read(1 << 20):
                    h.update(chunk)
                    dst.write(chunk)
            digest = base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
            if record.get(info.filename) != "sha256=" + digest:
                sys.exit(f"{wheel}: {info.filename} does not match the wheel's RECORD")
            count += 1
        return count

def torch_pick(name):
    if name.startswith(("torch/include/", "torch/share/")):
        return name[len("torch/"):]
    if name.startswith("torch/lib/") and os.path.basename(name) in KEEP_LIBS:
        return "lib/" + os.path.basename(name)
    return None

n = extract(torch_wheel, torch_pick)
n += extract(cudart_wheel, lambda f: "lib/libcudart.so.12" if f == "nvidia/cuda_runtime/lib/libcudart.so.12" else None)
n += extract(cupti_wheel, lambda f: "lib/libcupti.so.12" if f == "nvidia/cuda_cupti/lib/libcupti.so.12" else None)
for lib in KEEP_LIBS | {"libcudart.so.12", "libcupti.so.12"}:
    if not os.path.isfile(os.path.join(out, "lib", lib)):
        sys.exit(f"{lib} missing from the wheels")
print(f"{n} files extracted and checked against RECORD", file=sys.stderr)
PY
  strip --strip-unneeded "$staging/lib/libtorch_cpu.so"
  # -ltorch must resolve; everything tch needs is in libtorch_cpu.so and libc10.so.
  echo 'void mindset_libtorch_stub(void) {}' >"$staging/stub.c"
  gcc -shared -fPIC -o "$staging/lib/libtorch.so" "$staging/stub.c"
  rm "$staging/stub.c"
  echo "$TORCH_VERSION" >"$staging/build-version"
  missing=$(ldd "$staging/lib/libtorch_cpu.so" | grep 'not found' || true)
  if [ -n "$missing" ]; then
    log "libtorch_cpu.so has unresolved libraries:"; echo "$missing" >&2; exit 1
  fi
  touch "$staging/.verified"
  rm -rf "$dest"
  mv "$staging" "$dest"
  rm -rf "$downloads"
  log "libtorch $TORCH_VERSION verified in $dest ($(du -sh "$dest" | cut -f1)); wheels deleted"
fi

echo "export LIBTORCH=$dest LIBTORCH_CXX11_ABI=0"
