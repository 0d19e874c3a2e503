#!/usr/bin/env python3
"""The layering rules of src/ (docs/architecture.md), checked over the #include graph, run by ctest:
- every module includes only modules of lower layers (strictly downward, so no cycles); an
  engine's folder belongs to the engine layer and includes no other engine's folder;
- the API layer (api/, api/grpc/, api/rest/) never reaches an engine header, not even through the
  headers of ops/ it includes: it speaks to the backup machinery through ops' narrow interfaces.
Exits non-zero naming each offending include chain."""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
LAYERS = [["common", "console"], ["io"], ["storage", "catalog", "metrics"], ["repo"], ["engine"], ["ops"], ["api"],
          ["api/grpc", "api/rest"], ["server", "cli"]]
LAYER = {m: i for i, layer in enumerate(LAYERS) for m in layer}
# Both forms, indented or not (inside #if too); a path resolves against the including file's
# directory first (as the compiler does for quotes), then against src/.
INCLUDE = re.compile(r'\s*#\s*include\s*[<"]([^>"]+)[>"]')


def module(path):
    parts = path.split("/")
    if parts[0] == "api" and len(parts) > 2:
        return "api/" + parts[1]
    return parts[0]


def includes(path):
    out = []
    with open(os.path.join(SRC, path)) as f:
        for m in filter(None, map(INCLUDE.match, f)):
            for candidate in (os.path.join(os.path.dirname(path), m.group(1)), m.group(1)):
                candidate = os.path.normpath(candidate)
                if not candidate.startswith("..") and os.path.isfile(os.path.join(SRC, candidate)):
                    out.append(candidate)
                    break
    return out


def main():
    files = []
    for d, _, names in os.walk(SRC):
        files += [os.path.relpath(os.path.join(d, n), SRC) for n in names if n.endswith((".h", ".cc"))]
    errors = []
    graph = {f: includes(f) for f in files}
    for f in sorted(files):
        m = module(f)
        if m not in LAYER:
            errors.append("%s: module '%s' is in no layer of check_layers.py" % (f, m))
            continue
        for inc in graph[f]:
            t = module(inc)
            if t != m and LAYER.get(t, -1) >= LAYER[m]:
                errors.append("%s includes %s: '%s' may not depend on '%s'" % (f, inc, m, t))
            # An engine's folder sees the driver interface, never another engine's folder.
            mine, theirs = f.split("/"), inc.split("/")
            if (m == "engine" and len(mine) > 2 and len(theirs) > 2 and theirs[0] == "engine" and
                    mine[1] != theirs[1]):
                errors.append("%s includes %s: one engine may not use another's code" % (f, inc))
        if LAYER[m] in (LAYER["api"], LAYER["api/grpc"]):
            seen, stack = {f: None}, [f]
            while stack:  # depth-first over headers, remembering how each was reached
                cur = stack.pop()
                for inc in graph.get(cur, []):
                    if inc in seen:
                        continue
                    seen[inc] = cur
                    if module(inc) == "engine":
                        chain, at = [inc], cur
                        while at:
                            chain.append(at)
                            at = seen[at]
                        errors.append("the API reaches an engine header: " + " <- ".join(chain))
                    else:
                        stack.append(inc)
    for e in errors:
        print(e)
    print("check_layers: %d files, %d problems" % (len(files), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
