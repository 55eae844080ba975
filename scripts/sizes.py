#!/usr/bin/env python3
"""Module and function sizes outside tests (issue 22): modules over 600 lines, functions over 120.

Counts a file's lines up to its first `#[cfg(test)]`; a function's lines from its `fn` line to the
brace that closes it (braces in one-line string and char literals and in comments are ignored).
Usage: scripts/sizes.py [--module N] [--function N] [dirs...]; exits 1 when anything is over.
"""
import argparse, pathlib, re, sys

p = argparse.ArgumentParser()
p.add_argument("--module", type=int, default=600)
p.add_argument("--function", type=int, default=120)
p.add_argument("dirs", nargs="*", default=["infra/src", "infra/sam-template/src", "shared/src", "functions"])
a = p.parse_args()
over = 0
lit_re = re.compile(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])\'|//.*$')
fn_re = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)")
for d in a.dirs:
    for f in sorted(pathlib.Path(d).rglob("*.rs")):
        if "tests" in f.parts or "fixtures" in f.parts or f.name == "tests.rs":
            continue
        lines = f.read_text().splitlines()
        cut = next((i for i, l in enumerate(lines) if l.strip().startswith("#[cfg(test)]")), len(lines))
        body = lines[:cut]
        if len(body) > a.module:
            print(f"module {f}: {len(body)} lines"); over += 1
        i = 0
        while i < len(body):
            m = fn_re.match(body[i])
            if m and not body[i].rstrip().endswith(";"):
                depth, started, j = 0, False, i
                while j < len(body):
                    code = lit_re.sub('""', body[j])
                    depth += code.count("{") - code.count("}")
                    if "{" in code: started = True
                    if started and depth <= 0: break
                    j += 1
                n = j - i + 1
                if n > a.function:
                    print(f"fn {f}:{i+1} {m.group(6)}: {n} lines"); over += 1
            i += 1
print(f"{over} over (module > {a.module}, fn > {a.function})")
sys.exit(1 if over else 0)
