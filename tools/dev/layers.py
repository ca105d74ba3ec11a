#!/usr/bin/env python3
"""Checks src/ against the layer table of docs/design.md.

The table is the fenced block under "## Layers": one line per layer, the
highest first, each naming its modules (file names ending in .c or .h)
before a description.  A module may include, and call, only modules on
lower lines.  Two things are read:

  - every #include "x.h" of src/: x's line must be below the includer's;
  - every call or use of a name hm_<module>_... (the project's naming of a
    module's functions and globals), comments and strings left out: the
    module must be the user's own or lower.

Every module of src/ must be in the table, and every module of the table
in src/.  Prints one line per violation; exits 1 if there is any.

    tools/dev/layers.py [ROOT]
"""
import os
import re
import sys


def read_table(design):
    lines = open(design, encoding="utf-8").read().split("\n")
    try:
        start = lines.index("## Layers")
    except ValueError:
        sys.exit(f"{design}: no '## Layers' section")
    fence = [i for i in range(start, len(lines)) if lines[i].startswith("```")]
    if len(fence) < 2:
        sys.exit(f"{design}: no fenced layer table under '## Layers'")
    layer = {}
    depth = 0
    for row in lines[fence[0] + 1:fence[1]]:
        # Modules first, then the description; a row without a module
        # continues the description of the one above.
        names = []
        for word in row.split():
            m = re.fullmatch(r"([a-z_]+)\.[ch]", word)
            if not m:
                break
            names.append(m.group(1))
        if not names:
            continue
        for name in names:
            if name in layer:
                sys.exit(f"{design}: {name} on two lines of the table")
            layer[name] = depth
        depth += 1
    return layer, depth


def strip_code(text):
    """The text with comments, strings and character literals blanked."""
    out = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)),
                 text, flags=re.S)
    out = re.sub(r"//[^\n]*", "", out)
    out = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', out)
    out = re.sub(r"'(?:\\.|[^'\\\n])*'", "''", out)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    src = os.path.join(root, "src")
    layer, nrows = read_table(os.path.join(root, "docs", "design.md"))
    # Longest names first, so that hm_prof_sym_... is prof_sym's.
    by_length = sorted(layer, key=len, reverse=True)
    errors = []
    seen = set()
    for fname in sorted(os.listdir(src)):
        if not fname.endswith((".c", ".h")):
            continue
        mod = fname[:-2]
        seen.add(mod)
        path = os.path.join("src", fname)
        if mod not in layer:
            errors.append(f"{path}: module {mod} is not in the layer table "
                          "of docs/design.md")
            continue
        text = open(os.path.join(src, fname), encoding="utf-8").read()
        for n, line in enumerate(text.split("\n"), 1):
            m = re.match(r'\s*#\s*include\s+"([a-z_]+)\.h"', line)
            if not m or m.group(1) == mod:
                continue
            dep = m.group(1)
            if dep not in layer:
                errors.append(f"{path}:{n}: includes {dep}.h, which is not "
                              "in the layer table")
            elif layer[dep] <= layer[mod]:
                errors.append(f"{path}:{n}: includes {dep}.h, on "
                              f"{'its own' if layer[dep] == layer[mod] else 'a higher'}"
                              f" line of the layer table")
        code = strip_code(text)
        for n, line in enumerate(code.split("\n"), 1):
            for ident in re.findall(r"\bhm_[a-z0-9_]+", line):
                owner = next((m for m in by_length
                              if ident.startswith(f"hm_{m}_")), None)
                if owner is None or owner == mod:
                    continue
                if layer[owner] <= layer[mod]:
                    errors.append(f"{path}:{n}: uses {ident} of {owner}, on "
                                  f"{'its own' if layer[owner] == layer[mod] else 'a higher'}"
                                  " line of the layer table")
    for mod in sorted(set(layer) - seen):
        errors.append(f"docs/design.md: layer table names {mod}, which src/ "
                      "does not have")
    for e in errors:
        print(e)
    print(f"layers: {len(seen)} modules on {nrows} lines, "
          f"{len(errors)} violation{'s' if len(errors) != 1 else ''}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
