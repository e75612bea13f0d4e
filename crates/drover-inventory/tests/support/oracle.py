"""Ask ansible-core what it computes for an inventory, in one Python process.

Input (stdin, JSON): {"sources": [...], "playbook_dir": str|null, "empty_dir": str,
                      "selections": [[pattern, limit|null], ...]}
Output (stdout, JSON): {"hostvars": {host: vars minus internal},
                        "group_names": {host: [...]}, "short": {host: name},
                        "groups": {group: [hosts]},
                        "selections": [{"hosts": [...], "warnings": [...]} | {"error": str}]}
Run with ansible-core's Python; cwd must not hold group_vars/host_vars.
"""
import json
import sys

from ansible import constants as C
from ansible import context
from ansible.module_utils.common.collections import ImmutableDict
from ansible.utils.display import Display

req = json.load(sys.stdin)
context.CLIARGS = ImmutableDict({"basedir": req.get("playbook_dir") or False})

warnings = []
_orig_warning = Display.warning


def _capture(self, msg, formatted=False):
    warnings.append(msg)


Display.warning = _capture

from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402

loader = DataLoader()
loader.set_basedir(req.get("playbook_dir") or req["empty_dir"])
inv = InventoryManager(loader=loader, sources=req["sources"])
vm = VariableManager(loader=loader, inventory=inv)
load_warnings = list(warnings)

out = {"hostvars": {}, "group_names": {}, "short": {}, "files": {}, "groups": inv.get_groups_dict(),
       "load_warnings": load_warnings}
for host in inv.get_hosts("all"):
    v = vm.get_vars(host=host, include_hostvars=False, stage="all")
    out["group_names"][host.name] = v["group_names"]
    out["short"][host.name] = v["inventory_hostname_short"]
    out["files"][host.name] = [v.get("inventory_file"), v.get("inventory_dir")]
    out["hostvars"][host.name] = {k: x for k, x in v.items() if k not in C.INTERNAL_STATIC_VARS}

results = []
for pattern, limit in req["selections"]:
    warnings.clear()
    inv.clear_caches()
    try:
        inv.subset(limit)
        hosts = [h.name for h in inv.get_hosts(pattern)]
        results.append({"hosts": hosts, "warnings": list(warnings)})
    except Exception as e:  # noqa: BLE001
        results.append({"error": str(e)})
    inv.subset(None)
out["selections"] = results
json.dump(out, sys.stdout, default=list)
