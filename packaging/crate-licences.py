#!/usr/bin/env python3
"""Writes the licences of the Rust crates linked into the shipped binaries.

The binaries link their Rust dependencies statically, so the package carries each
crate's licence expression and the licence and notice files the crate itself ships.
Only what is linked counts: normal dependencies of the shipped packages on the target
platform, reached from the packages named on the command line (no build scripts,
procedural macros or dev-dependencies). Identical texts are printed once.

    crate-licences.py TARGET PACKAGE... > rust-crates.txt
"""
import hashlib
import json
import os
import subprocess
import sys

NOTICE_PREFIXES = ("license", "licence", "copying", "notice", "unlicense", "copyright", "authors")


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    target, roots = sys.argv[1], sys.argv[2:]
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked",
             "--filter-platform", target],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])
    by_name = {packages[m]["name"]: m for m in members}
    missing = [r for r in roots if r not in by_name]
    if missing:
        print(f"crate-licences: not in the workspace: {', '.join(missing)}", file=sys.stderr)
        return 2

    linked, todo = set(), [by_name[r] for r in roots]
    while todo:
        node = nodes[todo.pop()]
        for dep in node["deps"]:
            # Build scripts and tests link nothing into the binary.
            if not any(k["kind"] is None for k in dep["dep_kinds"]):
                continue
            if packages[dep["pkg"]].get("targets") and all(
                "proc-macro" in t["kind"] for t in packages[dep["pkg"]]["targets"]
            ):
                continue
            if dep["pkg"] not in linked:
                linked.add(dep["pkg"])
                todo.append(dep["pkg"])
    crates = sorted((packages[i] for i in linked if i not in members),
                    key=lambda p: (p["name"], p["version"]))

    out = sys.stdout
    out.write("Rust crates linked into dyntray, dyntray-settings and dyntrayd\n")
    out.write("=" * 62 + "\n\n")
    out.write("Each crate with its licence (SPDX expression) and the licence and notice\n")
    out.write("files it ships. A text shared by several crates is printed once, under\n")
    out.write("the first of them; the others point to it.\n\n")
    width = max(len(f"{p['name']} {p['version']}") for p in crates)
    for p in crates:
        name = f"{p['name']} {p['version']}"
        out.write(f"{name:<{width}}  {p.get('license') or 'see its files below'}\n")
    out.write(f"\n{len(crates)} crates.\n")

    seen = {}
    for p in crates:
        folder = os.path.dirname(p["manifest_path"])
        files = sorted(
            f for f in os.listdir(folder)
            if f.lower().startswith(NOTICE_PREFIXES) and os.path.isfile(os.path.join(folder, f))
        )
        extra = p.get("license_file")
        if extra and os.path.basename(extra) not in files:
            files.append(extra)
        out.write(f"\n\n{'-' * 78}\n{p['name']} {p['version']}: {p.get('license') or ''}\n")
        if p.get("repository"):
            out.write(f"{p['repository']}\n")
        if not files:
            out.write("(the crate ships no licence file; its licence is the expression above)\n")
        for f in files:
            with open(os.path.join(folder, f), encoding="utf-8", errors="replace") as fh:
                text = fh.read().strip()
            digest = hashlib.sha256(text.encode()).hexdigest()
            if digest in seen:
                out.write(f"\n{f}: the same text as {seen[digest]}\n")
                continue
            seen[digest] = f"{f} of {p['name']} {p['version']}"
            out.write(f"\n{f}:\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
