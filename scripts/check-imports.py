#!/usr/bin/env python3
"""Fails on an import circle, between the workspace's crates or between the modules of one crate.

Crates (from `cargo metadata`): nothing depends on the relay (it is the binary and the HTTP edge); the hub depends
on the pure crates only; a source or a derived crate depends on the hub and the pure crates, never on another
source, the relay or (but as a dev-dependency) a simulator.

Modules (from each crate's `use` lines and paths): module A depends on module B when A names B (`crate::b::…`,
`super::…`, `self::b::…`, or a child module by its bare name). A circle is a set of modules that reach each other.
The crate root (`lib.rs`) is left out as a target: it declares the modules and re-exports their items, so naming
`crate::Thing` names the module `Thing` comes from, which this script cannot see without a compiler.

Usage: scripts/check-imports.py        (exit 1 and the circles on stderr when there is one)
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Crates with no I/O that anything may use.
PURE = {"tickdesk-wire", "tickdesk-market", "tickdesk-indicators", "tickdesk-schwab-proto"}
SIMULATORS = {"tickdesk-schwab-sim", "tickdesk-binance-sim"}
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def crate_problems(meta):
    members = {p["name"]: p for p in meta["packages"]}
    problems = []
    for name, p in members.items():
        rel = os.path.relpath(os.path.dirname(p["manifest_path"]), ROOT)
        for d in p["dependencies"]:
            dep, kind = d["name"], d.get("kind") or "normal"
            if dep not in members:
                continue
            if dep == "tickdesk-relay":
                problems.append(f"{name} depends on tickdesk-relay ({kind}): nothing may")
            if kind != "normal":
                continue
            if name == "tickdesk-hub" and dep not in PURE:
                problems.append(f"tickdesk-hub depends on {dep}: the hub uses the pure crates only")
            if rel.startswith(("sources/", "derived/")) and dep not in PURE | {"tickdesk-hub"}:
                problems.append(
                    f"{name} ({rel}) depends on {dep}: a source or derived crate uses the hub and the pure "
                    "crates only (simulators as dev-dependencies)"
                )
    # Circles over normal dependencies (cargo refuses most, but dev-dependencies it lets through).
    graph = {
        n: {d["name"] for d in p["dependencies"] if d["name"] in members and (d.get("kind") or "normal") == "normal"}
        for n, p in members.items()
    }
    problems += [f"crate circle: {' -> '.join(c)}" for c in circles(graph)]
    return problems


def module_files(src):
    """Module path (tuple) -> file, for one crate's src/ tree rooted at lib.rs."""
    out = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel == ["lib"]:
                out[()] = path
            elif rel == ["main"] or rel[0] == "bin":
                continue
            elif rel[-1] == "mod":
                out[tuple(rel[:-1])] = path
            else:
                out[tuple(rel)] = path
    return out


def strip(code):
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
    code = re.sub(r"//[^\n]*", "", code)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', code)


def expand_use_groups(code):
    """`use a::{b, c::d}` -> `use a::b; use a::c::d;` (one level of braces, which is what this code base writes)."""

    def repl(m):
        prefix, body = m.group(1), m.group(2)
        parts = [x.strip() for x in body.split(",") if x.strip()]
        return " ".join(f"{prefix}::{x};" for x in parts)

    prev = None
    while prev != code:
        prev = code
        code = re.sub(rf"((?:{IDENT}::)*{IDENT})::\{{([^{{}}]*)\}}", repl, code)
    return code


def module_graph(src):
    mods = module_files(src)
    graph = {m: set() for m in mods}
    for m, path in mods.items():
        with open(path, encoding="utf-8") as f:
            code = expand_use_groups(strip(f.read()))
        children = {c[-1] for c in mods if len(c) == len(m) + 1 and c[: len(m)] == m}
        # The file's own inline test module reaches everything of its own; leave `#[cfg(test)]` tails out.
        code = code.split("#[cfg(test)]")[0]
        refs = []
        for hit in re.finditer(rf"(?<![A-Za-z0-9_:])((?:crate|super|self|{IDENT})(?:::{IDENT})+)", code):
            segs = hit.group(1).split("::")
            head = segs[0]
            if head == "crate":
                refs.append(tuple(segs[1:]))
            elif head in ("super", "self"):
                base = list(m)
                while segs and segs[0] in ("super", "self"):
                    if segs.pop(0) == "super":
                        # In mod.rs and in a leaf file alike, `super` is the parent module.
                        base = base[:-1]
                refs.append(tuple(base + segs))
            elif head in children:
                refs.append(tuple(list(m) + segs))
        for r in refs:
            # The longest prefix that is a module of this crate.
            target = None
            for k in range(len(r), 0, -1):
                if r[:k] in mods:
                    target = r[:k]
                    break
            if target is None or target == m:
                continue
            # A module naming its own descendants is structure, not a circle risk, unless they name it back;
            # both directions are kept, so such a pair shows up as a circle.
            graph[m].add(target)
    return graph


def circles(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def name(m):
    return "::".join(m) if m else "crate"


def main():
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"], cwd=ROOT
        )
    )
    problems = crate_problems(meta)
    checked = 0
    for p in meta["packages"]:
        for t in p["targets"]:
            if "lib" not in t["kind"] and "proc-macro" not in t["kind"]:
                continue
            src = os.path.dirname(t["src_path"])
            graph = module_graph(src)
            checked += len(graph)
            for c in circles(graph):
                files = ", ".join(name(m) for m in c)
                problems.append(f"module circle in {p['name']}: {files}")
    if problems:
        for line in problems:
            print(f"check-imports: {line}", file=sys.stderr)
        sys.exit(1)
    print(f"check-imports: no import circles ({len(meta['packages'])} crates, {checked} modules)")


if __name__ == "__main__":
    main()
