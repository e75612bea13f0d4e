"""The scale benchmark's job for pyinfra 3 (scripts/bench --scale): the same ten steps as
site.yml, under BENCH_BASE (default /opt/scale-pyinfra)."""
import os
from io import StringIO

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import files, server

BASE = os.environ.get("BENCH_BASE", "/opt/scale-pyinfra")
HERE = os.path.dirname(os.path.abspath(__file__))
SUDO = {"_sudo": True}

files.directory(name="directory", path=BASE, mode="755", **SUDO)
files.directory(name="config directory", path=f"{BASE}/conf", mode="755", **SUDO)
files.put(name="content", src=StringIO("listen = 0.0.0.0\nport = 5432\n"),
          dest=f"{BASE}/conf/a.conf", mode="644", **SUDO)
files.put(name="a file from the controller", src=os.path.join(HERE, "files", "b.conf"),
          dest=f"{BASE}/conf/b.conf", mode="644", **SUDO)
files.template(name="a template", src=os.path.join(HERE, "templates", "c.conf.j2"),
               dest=f"{BASE}/conf/c.conf", mode="644", inventory_hostname=host.name, **SUDO)
files.line(name="a line", path=f"{BASE}/conf/e.conf", line="max_connections = 100", **SUDO)
# pyinfra has no `creates`: the check is the command's own
server.shell(name="a command, once",
             commands=[f"test -e {BASE}/initialized || touch {BASE}/initialized"], **SUDO)
host.get_fact(File, path=f"{BASE}/conf/a.conf", **SUDO)
files.link(name="a link", path=f"{BASE}/current", target=f"{BASE}/conf", **SUDO)
files.put(name="a private file", src=StringIO("secret = none\n"),
          dest=f"{BASE}/conf/d.conf", mode="600", **SUDO)
