"""For each input string: Ansible's INI `_parse_value` result and `shlex.split(comments=True)`.

stdin: JSON list of strings; stdout: JSON list of {"value": v} | {"value_error": str},
and {"shlex": [...]} | {"shlex_error": str}.
"""
import json
import sys

from ansible.plugins.inventory.ini import InventoryModule
from ansible.utils.shlex import shlex_split

out = []
for s in json.load(sys.stdin):
    r = {}
    v = InventoryModule._parse_value(s)
    r["value"] = list(v) if isinstance(v, (tuple, set)) else v
    try:
        r["shlex"] = shlex_split(s, comments=True)
    except ValueError as e:
        r["shlex_error"] = str(e)
    out.append(r)
json.dump(out, sys.stdout, default=lambda x: list(x) if isinstance(x, (tuple, set)) else str(x))
