#!/usr/bin/env python3
"""Prints the README's configuration table from config/default.toml (keys and comments)."""
import pathlib
import re

toml = pathlib.Path(__file__).resolve().parent.parent / "config" / "default.toml"
section, comment = None, []
print("| setting | default | environment variable | meaning |")
print("|---|---|---|---|")
for line in toml.read_text().splitlines():
    if m := re.match(r"^\[(\w+)\]", line):
        section, comment = m.group(1), []
    elif line.startswith("#"):
        if section:
            comment.append(line.lstrip("# ").strip())
    elif (m := re.match(r"^(\w+)\s*=\s*(.*)$", line)) and section:
        key, value = m.groups()
        env = f"OCTOHOOKS__{section.upper()}__{key.upper()}"
        text = " ".join(comment).replace("|", "\\|")
        print(f"| `{section}.{key}` | `{value}` | `{env}` | {text} |")
        comment = []
    elif not line.strip():
        comment = []
