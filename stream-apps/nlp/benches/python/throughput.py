"""The Python peer of benches/throughput.rs: all-MiniLM-L6-v2 run by Hugging Face `transformers`
(4.44.2, BERT with its default "sdpa" attention) on torch 2.4.0, mean-pooled and L2-normalised as
sentence-transformers does, over the same texts and the same model folder as the Rust encoder.

    python throughput.py MODEL_DIR TEXTS_JSON MAX_LEN [DTYPE]

DTYPE is float32 (the default) or bfloat16: the model's weights and arithmetic, with pooling in float32
(as the Rust encoder does in either precision). Or qint8: torch's dynamic quantisation
(`quantize_dynamic`, int8 weights, activations quantised per call) of the layers the Rust encoder's
int8 precision quantises: each layer's query, key and value, attention output and feed-forward
`intermediate.dense`; the feed-forward output layer stays in float32 on both sides.

The Rust bench starts it once (in the venv of infra/fetch-python-peer.sh) and sends one command a
line, so the two sides alternate within one run:

    measure THREADS BATCH SORTED N   → texts/s over the first N texts, calls of BATCH texts; with
                                       SORTED=1 each call is split into length-sorted batches of 32
    embed K                          → the first K texts' embeddings, as a JSON list of lists

Tokenizing is inside the timed part on both sides (a service receives text, not token ids).
"""

import json
import sys
import time

import torch
import torch.nn.functional as F
import transformers
from transformers import AutoModel, AutoTokenizer

SUB_BATCH = 32


def main():
    model_dir, texts_path, max_len = sys.argv[1], sys.argv[2], int(sys.argv[3])
    dtype_name = sys.argv[4] if len(sys.argv) > 4 else "float32"
    dtype = torch.float32 if dtype_name == "qint8" else getattr(torch, dtype_name)
    with open(texts_path) as f:
        texts = json.load(f)
    transformers.logging.set_verbosity_error()  # its advice on pad() and tokenizer defaults
    tokenizer = AutoTokenizer.from_pretrained(model_dir, clean_up_tokenization_spaces=True)
    model = AutoModel.from_pretrained(model_dir, attn_implementation="sdpa").eval().to(dtype)
    if dtype_name == "qint8":
        quantised = {
            name
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear)
            and name.startswith("encoder.")
            and not (name.endswith(".output.dense") and ".attention." not in name)
        }
        model = torch.ao.quantization.quantize_dynamic(model, quantised, dtype=torch.qint8)

    def encode(batch_texts, sort):
        ids = tokenizer(batch_texts, truncation=True, max_length=max_len)["input_ids"]
        order = list(range(len(ids)))
        if sort:
            order.sort(key=lambda i: len(ids[i]))
        step = SUB_BATCH if sort else len(ids)
        out = [None] * len(ids)
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            padded = tokenizer.pad({"input_ids": [ids[i] for i in chunk]}, return_tensors="pt")
            mask = padded["attention_mask"]
            hidden = model(input_ids=padded["input_ids"], attention_mask=mask).last_hidden_state.float()
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            for row, i in enumerate(chunk):
                out[i] = pooled[row]
        return F.normalize(torch.stack(out), dim=1)

    print(
        json.dumps({"torch": torch.__version__, "transformers": transformers.__version__,
                    "attention": model.config._attn_implementation, "dtype": dtype_name}),
        flush=True,
    )
    with torch.inference_mode():
        for line in sys.stdin:
            cmd = line.split()
            if not cmd:
                continue
            if cmd[0] == "measure":
                threads, batch, sort, n = int(cmd[1]), int(cmd[2]), cmd[3] == "1", int(cmd[4])
                torch.set_num_threads(threads)
                encode(texts[:SUB_BATCH], True)  # warm-up at this thread count
                started = time.perf_counter()
                for start in range(0, n, batch):
                    encode(texts[start : min(start + batch, n)], sort)
                print(n / (time.perf_counter() - started), flush=True)
            elif cmd[0] == "embed":
                print(json.dumps(encode(texts[: int(cmd[1])], True).tolist()), flush=True)
            else:
                sys.exit(f"unknown command {cmd[0]}")


if __name__ == "__main__":
    main()
