#!/usr/bin/env python3
"""Independent reference values for the consensus-critical validation cores (PROTOCOL §7.1, §7.4).

Writes Tests/LedgerTests/ValidationVectors.swift (a generated file: do not edit by hand). Every value
is computed here with Python's `decimal` at 50 significant digits and exact integers/fractions,
never with the Swift code under test:

* ln:    "a b v"  with v = round-half-even(ln(a/b) * 2^48), over the §7.4 parameter grid
         (P0 1e-4..0.2, P1 0.05..0.9, alpha 1e-9..1e-2, in ppb) and random/edge pairs of UInt64s;
* sprt:  "p0 p1 alpha k m" with k = consecutive confirmed invalidations from LLR 0 to INVALID and
         m = consecutive validations from LLR 0 to the floor (exact; near-ties left out);
* seq:   "p0 p1 alpha outcomes index" a random outcome string (V/I) and the 0-based index of the
         outcome that convicts, -1 if none (exact, with the floor; near-ties left out);
* draw:  "seedhex id r" r = big-endian u64 of the first 8 bytes of SHA-256("{seedhex}/{id}");
* p:     "traffic reputation own total executor r minavg_ppb obliged" exact with Fraction.

Run: python3 scripts/gen-validation-vectors.py  (deterministic: seeded with 15).
"""
import hashlib
import random
from decimal import Decimal, getcontext, ROUND_HALF_EVEN, ROUND_CEILING
from fractions import Fraction
from pathlib import Path

getcontext().prec = 50
Q48 = Decimal(2) ** 48
U64 = 2**64 - 1
rng = random.Random(15)


def ln(a, b):
    return (Decimal(a) / Decimal(b)).ln()


def q48(a, b):
    return int((ln(a, b) * Q48).to_integral_value(rounding=ROUND_HALF_EVEN))


# --- ln vectors -----------------------------------------------------------------------------
P0S = [100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000, 50_000_000,
       100_000_000, 150_000_000, 200_000_000]
P1S = [50_000_000, 100_000_000, 200_000_000, 300_000_000, 400_000_000, 500_000_000, 700_000_000, 900_000_000]
ALPHAS = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000]
W = 1_000_000_000
pairs = set()
for p0 in P0S:
    for p1 in P1S:
        if p0 < p1:
            pairs.add((p1, p0))
            pairs.add((W - p1, W - p0))
for a in ALPHAS:
    pairs.add((W, a))
for _ in range(300):  # random parameters inside the ranges
    p0 = rng.randint(100_000, 200_000_000)
    p1 = rng.randint(max(p0 + 1, 50_000_000), 900_000_000)
    alpha = rng.randint(1, 10_000_000)
    pairs.update([(p1, p0), (W - p1, W - p0), (W, alpha)])
edges = [1, 2, 3, 5, 7, 10, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**62, 2**63 - 1, 2**63, 2**63 + 1, U64 - 1, U64]
for a in edges:
    for b in edges:
        pairs.add((a, b))
while len(pairs) < 3_500:
    a = int(2 ** (rng.random() * 64))
    b = int(2 ** (rng.random() * 64))
    if rng.random() < 0.3:  # ratios close to 1, where the series matters most
        b = max(1, a + rng.randint(-1000, 1000))
    a, b = min(max(a, 1), U64), min(max(b, 1), U64)
    pairs.add((a, b))
ln_lines = [f"{a} {b} {q48(a, b)}" for a, b in sorted(pairs)]

# --- SPRT consecutive counts ----------------------------------------------------------------
sprt_lines = []
grid = [(p0, p1, a) for p0 in P0S for p1 in P1S for a in ALPHAS if p0 < p1]
for p0, p1, alpha in grid:
    up, down, t = ln(p1, p0), ln(W - p1, W - p0), ln(W, alpha)
    k_exact = t / up
    m_exact = t / -down
    # Leave out near-ties, where a 1-ulp-per-step fixed point could legitimately land either side.
    if abs(k_exact - k_exact.to_integral_value()) < Decimal("1e-9"):
        continue
    if abs(m_exact - m_exact.to_integral_value()) < Decimal("1e-9"):
        continue
    k = int(k_exact.to_integral_value(rounding=ROUND_CEILING))
    m = int(m_exact.to_integral_value(rounding=ROUND_CEILING))
    sprt_lines.append(f"{p0} {p1} {alpha} {k} {m}")

# --- SPRT random sequences ------------------------------------------------------------------
seq_lines = []
while len(seq_lines) < 200:
    p0 = rng.choice(P0S + [rng.randint(100_000, 200_000_000)])
    p1 = rng.choice(P1S + [rng.randint(50_000_000, 900_000_000)])
    alpha = rng.choice(ALPHAS + [rng.randint(1, 10_000_000)])
    if not p0 < p1:
        continue
    up, down, t = ln(p1, p0), ln(W - p1, W - p0), ln(W, alpha)
    rate = rng.choice([p0 / W, p1 / W, 0.1, 0.2, 0.5])
    n = rng.randint(1, 120)
    outcomes = "".join("I" if rng.random() < rate else "V" for _ in range(n))
    llr, index, tie = Decimal(0), -1, False
    for i, o in enumerate(outcomes):
        raw = llr + (up if o == "I" else down)
        if abs(raw + t) < Decimal("1e-9") or abs(raw - t) < Decimal("1e-9"):
            tie = True
        llr = max(raw, -t)
        if llr >= t:
            index = i
            break
    if not tie:
        seq_lines.append(f"{p0} {p1} {alpha} {outcomes} {index}")

# --- sampling: r and exact decisions --------------------------------------------------------
def draw(seed_hex, inference_id):
    return int.from_bytes(hashlib.sha256(f"{seed_hex}/{inference_id}".encode()).digest()[:8], "big")


draw_lines = []
for i in range(40):
    seed = hashlib.sha256(f"seed{i}".encode()).hexdigest()
    iid = hashlib.sha256(f"inference{i}".encode()).hexdigest() if i % 2 else f"id-{i}"
    draw_lines.append(f"{seed} {iid} {draw(seed, iid)}")


def min_avg_ppb(r):  # PROTOCOL §12 defaults: cutoffs 100 / 5,000 / 10,000, averages 1.0 / 0.05 / 0.01
    hi, mid, lo = 1_000_000_000, 50_000_000, 10_000_000
    if r <= 100:
        return hi
    if r <= 5_000:
        return hi - (hi - mid) * (r - 100) // (5_000 - 100)
    if r < 10_000:
        return mid - (mid - lo) * (r - 5_000) // (10_000 - 5_000)
    return lo


p_lines = []
for i in range(400):
    traffic = rng.choice([0, 100, 101, 2_550, 4_999, 5_000, 5_001, 7_500, 9_999, 10_000, 10**6,
                          rng.randint(0, 20_000)])
    rep = rng.choice([0, 1, 50, 99, 100, rng.randint(0, 100)])
    own = rng.choice([1, rng.randint(1, 1000), rng.randint(1, 10**12)])
    executor = rng.choice([0, rng.randint(1, 1000), rng.randint(1, 10**12)])
    others = rng.choice([0, rng.randint(0, 1000), rng.randint(0, 10**13)])
    total = own + executor + others
    seed = hashlib.sha256(f"pseed{i}".encode()).hexdigest()
    r = draw(seed, f"inf{i}")
    avg = Fraction(min_avg_ppb(traffic), 10**9)
    target = avg + (1 - avg) * (1 - Fraction(rep, 100))
    p = min(Fraction(1), target * own / (total - executor))
    obliged = Fraction(r, 2**64) < p
    p_lines.append(f"{traffic} {rep} {own} {total} {executor} {r} {min_avg_ppb(traffic)} {int(obliged)}")


def literal(name, lines, what):
    body = "\n".join(lines)
    return f'    /// {what}\n    static let {name} = """\n{body}\n"""\n'


out = [
    "// Generated by scripts/gen-validation-vectors.py (Python decimal, 50 digits; exact fractions). Do not edit.",
    "// swift-format-ignore-file",
    "",
    "/// Independent reference values for FixedLog, SequentialTest and ValidationSampling.",
    "enum ValidationVectors {",
    literal("ln", ln_lines, '"a b v": v = round-half-even(ln(a / b) · 2⁴⁸).'),
    literal("sprt", sprt_lines, '"p0 p1 alpha k m" in ppb: k invalidations / m validations in a row from 0.'),
    literal("sequences", seq_lines, '"p0 p1 alpha outcomes index": the convicting outcome, -1 if none.'),
    literal("draws", draw_lines, '"seed id r": r = big-endian u64 of SHA-256("{seed}/{id}")[0..<8].'),
    literal("decisions", p_lines, '"traffic reputation own total executor r minAvgPpb obliged" (defaults).'),
    "}",
    "",
]
path = Path(__file__).resolve().parent.parent / "Tests/LedgerTests/ValidationVectors.swift"
path.write_text("\n".join(out))
print(f"{path}: {len(ln_lines)} ln, {len(sprt_lines)} sprt, {len(seq_lines)} sequences, "
      f"{len(draw_lines)} draws, {len(p_lines)} decisions")
