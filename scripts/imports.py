#!/usr/bin/env python3
"""File-level import cycles inside a crate (issue 22): which module files name each other.

Reads every `crate::a::b` and `super::x` path outside `#[cfg(test)]` code, resolves it to the
module file it lands in, and prints each cycle (strongly connected set of two or more files).
A `mod.rs` and its own children are not counted against each other (a parent declares and
re-exports its children). Usage: scripts/imports.py [src-dir ...]; exits 1 on a cycle.
"""
import pathlib, re, sys

def modpath(src, f):
    parts = list(f.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)

def check(src):
    src = pathlib.Path(src)
    files = {modpath(src, f): f for f in src.rglob("*.rs")}
    graph = {m: set() for m in files}
    for m, f in files.items():
        text = f.read_text()
        cut = text.find("#[cfg(test)]")
        text = text if cut < 0 else text[:cut]
        text = re.sub(r"//.*", "", text)
        is_dir = f.stem == "mod" or f.stem == "lib"
        here = m if is_dir else m[:-1]
        for path in re.findall(r"\b((?:crate|super)(?:::\w+)+)", text):
            segs = path.split("::")
            if segs[0] == "crate":
                base, rest = (), segs[1:]
            else:
                # the first `super` is the module holding this file's own; each next one goes up
                ups = len([s for s in segs if s == "super"])
                base = here[: len(here) - (ups - 1)] if ups else here
                rest = segs[ups:]
            target = base
            for s in rest:
                if base + (s,) in files or tuple(list(target) + [s]) in files:
                    target = target + (s,)
                else:
                    break
            if target != m and target in files:
                # parent <-> own child is not a cycle worth counting
                if target == m[: len(target)] or m == target[: len(m)]:
                    continue
                graph[m].add(target)
    # Tarjan's strongly connected components
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(comp)
    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index: visit(v)
    for comp in out:
        names = sorted("::".join(c) or "lib" for c in comp)
        print(f"cycle in {src}: " + " <-> ".join(names))
    return len(out)

dirs = sys.argv[1:] or ["shared/src"]
total = sum(check(d) for d in dirs)
print(f"{total} import cycles")
sys.exit(1 if total else 0)
