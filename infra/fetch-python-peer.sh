#!/usr/bin/env bash
# Makes the Python peer of stream-apps/nlp's throughput bench, idempotently: a venv under
# $MINDSET_CACHE/pyenv-nlp-peer with torch 2.4.0 (the libtorch our Rust side links) and transformers
# 4.44.2, so the bench can run the same MiniLM weights through `transformers` beside our encoder.
#
#   infra/fetch-python-peer.sh     prints the venv's python (benches/throughput.rs looks for it there)
#
# PyPI's torch 2.4.0 Linux wheel is a CUDA build, and `import torch` loads libtorch_cuda.so, which links
# cuBLAS, cuDNN, cuFFT, cuRAND, cuSPARSE(+nvJitLink), NCCL and NVTX: those nvidia wheels are installed
# too (no GPU is used). Left out because torch only loads them on demand: triton, cuSOLVER
# (libtorch_cuda_linalg.so) and NVRTC. About 2.4 GB of wheels, 4.4 GB installed.
# Every wheel is pinned by PyPI's sha256 (pip runs in hash-checking mode with --no-deps, then
# sha256sum checks the files again); the downloads are deleted once the venv imports.
source "$(dirname "$0")/lib.sh"

PYTHON="${PYTHON:-python3}"
venv="$MINDSET_CACHE/pyenv-nlp-peer"
downloads="$MINDSET_CACHE/python-peer.download"
# name==version sha256 wheel-file
PINS="
torch==2.4.0 e743adadd8c8152bb8373543964551a7cb7cc20ba898dc8f9c0cdbe47c283de0 torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl
transformers==4.44.2 1c02c65e7bfa5e52a634aff3da52138b583fc6f263c1f28d547dc144ba3d412d transformers-4.44.2-py3-none-any.whl
nvidia-cublas-cu12==12.1.3.1 ee53ccca76a6fc08fb9701aa95b6ceb242cdaab118c3bb152af4e579af792728 nvidia_cublas_cu12-12.1.3.1-py3-none-manylinux1_x86_64.whl
nvidia-cuda-cupti-cu12==12.1.105 e54fde3983165c624cb79254ae9818a456eb6e87a7fd4d56a2352c24ee542d7e nvidia_cuda_cupti_cu12-12.1.105-py3-none-manylinux1_x86_64.whl
nvidia-cuda-runtime-cu12==12.1.105 6e258468ddf5796e25f1dc591a31029fa317d97a0a94ed93468fc86301d61e40 nvidia_cuda_runtime_cu12-12.1.105-py3-none-manylinux1_x86_64.whl
nvidia-cudnn-cu12==9.1.0.70 165764f44ef8c61fcdfdfdbe769d687e06374059fbb388b6c89ecb0e28793a6f nvidia_cudnn_cu12-9.1.0.70-py3-none-manylinux2014_x86_64.whl
nvidia-cufft-cu12==11.0.2.54 794e3948a1aa71fd817c3775866943936774d1c14e7628c74f6f7417224cdf56 nvidia_cufft_cu12-11.0.2.54-py3-none-manylinux1_x86_64.whl
nvidia-curand-cu12==10.3.2.106 9d264c5036dde4e64f1de8c50ae753237c12e0b1348738169cd0f8a536c0e1e0 nvidia_curand_cu12-10.3.2.106-py3-none-manylinux1_x86_64.whl
nvidia-cusparse-cu12==12.1.0.106 f3b50f42cf363f86ab21f720998517a659a48131e8d538dc02f8768237bd884c nvidia_cusparse_cu12-12.1.0.106-py3-none-manylinux1_x86_64.whl
nvidia-nvjitlink-cu12==12.9.86 e3f1171dbdc83c5932a45f0f4c99180a70de9bd2718c1ab77d14104f6d7147f9 nvidia_nvjitlink_cu12-12.9.86-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl
nvidia-nccl-cu12==2.20.5 057f6bf9685f75215d0c53bf3ac4a10b3e6578351de307abad9e18a99182af56 nvidia_nccl_cu12-2.20.5-py3-none-manylinux2014_x86_64.whl
nvidia-nvtx-cu12==12.1.105 dc21cf308ca5691e7c04d962e213f8a4aa9bbfa23d95412f452254c2caeb09e5 nvidia_nvtx_cu12-12.1.105-py3-none-manylinux1_x86_64.whl
numpy==1.26.4 666dbfb6ec68962c033a450943ded891bed2d54e6755e35e5835d63f4f6931d5 numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
filelock==4.2.12 21decfec02f116ed4c954433cdb31f28c3b346b784543177b6d7059da2702ee9 filelock-4.2.12-py3-none-any.whl
typing-extensions==4.16.0 481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8 typing_extensions-4.16.0-py3-none-any.whl
sympy==1.14.0 e091cc3e99d2141a0ba2847328f5479b05d94a6635cb96148ccb3f34671bd8f5 sympy-1.14.0-py3-none-any.whl
mpmath==1.3.0 a0b2b9fe80bbcd81a6647ff13108738cfb482d481d826cc0e02f5b35e5c88d2c mpmath-1.3.0-py3-none-any.whl
networkx==3.6.1 d47fbf302e7d9cbbb9e2555a0d267983d2aa476bac30e90dfbe5669bd57f3762 networkx-3.6.1-py3-none-any.whl
jinja2==3.1.6 85ece4451f492d0c13c5dd7c13a64681a86afae63a5f347908daf103ce6d2f67 jinja2-3.1.6-py3-none-any.whl
markupsafe==3.0.4 6da83a088f8ef93b2d483a8232a4dbf4d69d3d8496b568a03c56becac43e1808 markupsafe-3.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl
fsspec==2026.9.0 8dd6e646e99ea382bd85f97a45e6b526a442d79423a7dc673f1e2756d05fcb5f fsspec-2026.9.0-py3-none-any.whl
huggingface-hub==0.36.2 48f0c8eac16145dfce371e9d2d7772854a4f591bcb56c9cf548accf531d54270 huggingface_hub-0.36.2-py3-none-any.whl
hf-xet==1.8.0 29dab7c904cd1914a0439c6e1306c12c7497c8bd32290fbe563ebf51ca4b6d6d hf_xet-1.8.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
packaging==26.3 d7193f7c8e4e93f444fde0262bf90af30e16fa0ad0ad44cb553c87339b23cd1c packaging-26.3-py3-none-any.whl
pyyaml==6.0.4 622aa875fa6533f25fedcffe23079357d65a690d462200afed5d8e9d0e01ebee pyyaml-6.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl
regex==2026.11.19 86d3b2ea69b3c56df3e8ddbac6cd98eaf5a8c5b5e7e006897ebdf7a28d6818e6 regex-2026.11.19-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl
requests==2.34.2 2a0d60c172f83ac6ab31e4554906c0f3b3588d37b5cb939b1c061f4907e278e0 requests-2.34.2-py3-none-any.whl
certifi==2026.10.19.post1 1324c476b4811eff41a8bc2122cd0bbd4d9c7234c725446d99ab1612b3a7fdd2 certifi-2026.10.19.post1-py3-none-any.whl
charset-normalizer==3.5.2 211d5a3eb6af8f513b8d4ca19a8c1b7accab1b5f0d3175f9826b03c1a920dc1f charset_normalizer-3.5.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl
idna==3.20 ab7ae7122974553370f0bdb919e1a960b2cd1bc1ef0276416d896db81c14582c idna-3.20-py3-none-any.whl
urllib3==2.8.0 0cf3cae568d36aa9576b28dfb35f11328f1cb974ca7647d9475ebb86c75ac6e3 urllib3-2.8.0-py3-none-any.whl
safetensors==0.8.0 fd6f3f93c9a0a7cc2788ee63fb763353d4bd2e89b0751bc78fcf7dda00bea774 safetensors-0.8.0-cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
tokenizers==0.19.1 d16ff18907f4909dca9b076b9c2d899114dd6abceeb074eca0c93e2353f943aa tokenizers-0.19.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
tqdm==4.70.1 c293e525e6fef9c20e8728fd4612df02a0aa31bb5fe91ecd93e123b1b7bffa73 tqdm-4.70.1-py3-none-any.whl
"
pins_digest=$(printf '%s' "$PINS" | sha256sum | cut -c1-64)

case "$(uname -m)" in
  x86_64) ;;
  *) log "only Linux x86_64 is pinned here (found $(uname -m))"; exit 1 ;;
esac
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  log "the pinned wheels are for CPython 3.11; set PYTHON to a python3.11"; exit 1
}
lock_service python-peer

if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins_digest" ]; then
  mkdir -p "$downloads"
  requirements="$downloads/requirements.txt"
  checks="$downloads/sha256sums"
  : >"$requirements"; : >"$checks"
  while read -r pin sha file; do
    [ -n "$pin" ] || continue
    echo "$pin --hash=sha256:$sha" >>"$requirements"
    echo "$sha  $file" >>"$checks"
  done <<<"$PINS"
  log "fetching torch, transformers and their CPU-side dependencies from PyPI (about 2.4 GB, skipped when present)"
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: --find-links "$downloads" -r "$requirements" -d "$downloads" >&2
  (cd "$downloads" && sha256sum --check --quiet "$checks" >&2)
  log "making a venv with torch 2.4.0 and transformers 4.44.2 in $venv"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv" >&2
  # --no-index: only the verified files in $downloads are installed.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
    --no-index --find-links "$downloads" -r "$requirements" >&2
  "$venv/bin/python" -c 'import torch, transformers; assert torch.__version__.startswith("2.4.0") and transformers.__version__ == "4.44.2"' >&2
  echo "$pins_digest" >"$venv/.pins"
  rm -rf "$downloads"
  log "python peer ready in $venv"
fi
echo "$venv/bin/python"
