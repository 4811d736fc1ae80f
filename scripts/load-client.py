#!/usr/bin/env python3
"""A load client for a devnet's signing proxy, with the official `openai` package: N streamed chat
requests from C concurrent workers, reporting time to first token (p50/p95), total latency and
throughput. Used to measure what validation costs live traffic (issue 15):

    gonka devnet up --dir /tmp/a --model M                  # validating
    python3 scripts/load-client.py --base-url http://127.0.0.1:PORT/v1 --requests 120 --concurrency 4
    gonka devnet up --dir /tmp/b --model M --no-validation  # not validating
    python3 scripts/load-client.py --base-url ... (same flags)

Prints one JSON line at the end (--json) or a short table.
"""

import argparse
import json
import statistics
import sys
import threading
import time

try:
    import openai
except ImportError:  # pragma: no cover
    sys.exit("the `openai` package is needed: pip install 'openai>=1,<3' (or use .venv-test/bin/python)")

PROMPTS = [
    "Name a colour.", "Count to five.", "Say hello in French.", "Name a fruit.", "What is two plus two?",
    "Name a planet.", "Write a short greeting.", "Name an animal.", "What is the capital of Italy?",
    "Describe the sea in one sentence.", "Give me three words that rhyme.", "Name a city in Japan.",
]


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="the proxy's /v1 URL")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    if args.requests < 1 or args.concurrency < 1 or args.max_tokens < 1:
        parser.error("--requests, --concurrency and --max-tokens must be positive")

    client = openai.OpenAI(base_url=args.base_url, api_key="unused", max_retries=0, timeout=300)
    model = client.models.list().data[0].id
    ttft, latency, tokens, errors = [], [], [], []
    lock = threading.Lock()
    counter = iter(range(args.requests))

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            start = time.perf_counter()
            first = None
            count = 0
            try:
                stream = client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                    max_tokens=args.max_tokens, temperature=args.temperature, seed=i, stream=True,
                    stream_options={"include_usage": True})
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content and first is None:
                        first = time.perf_counter() - start
                    if chunk.usage:
                        count = chunk.usage.completion_tokens
            except Exception as error:  # noqa: BLE001 — every failure is counted and reported
                with lock:
                    errors.append(str(error)[:200])
                continue
            with lock:
                if first is not None:
                    ttft.append(first)
                latency.append(time.perf_counter() - start)
                tokens.append(count)

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    result = {
        "requests": args.requests, "ok": len(latency), "errors": len(errors), "concurrency": args.concurrency,
        "ttft_p50_ms": round(1000 * percentile(ttft, 0.5), 1), "ttft_p95_ms": round(1000 * percentile(ttft, 0.95), 1),
        "latency_p50_ms": round(1000 * percentile(latency, 0.5), 1),
        "tokens_per_s": round(sum(tokens) / elapsed, 1), "elapsed_s": round(elapsed, 1),
        "mean_tokens": round(statistics.mean(tokens), 1) if tokens else 0,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print("%-16s %s" % (key, value))
        for error in errors[:5]:
            print("error:", error)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
