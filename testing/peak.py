"""Run the CLI as a program that also reports its own peak memory, for tests and benchmarks."""

from __future__ import annotations

# Runs the CLI, then reports the process's own peak memory on stderr's last line. VmHWM, not
# ru_maxrss: Linux carries ru_maxrss over from the (large) pytest process that forked us.
MEASURED = (
    "import re, runpy, sys\n"
    "sys.argv = ['mlflow-gitops', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('controller', run_name='__main__')\n"
    "finally:\n"
    "    status = open('/proc/self/status').read()\n"
    "    kib = re.search(r'VmHWM:\\s*(\\d+)', status).group(1)\n"
    "    print(f'peak-kib={kib}', file=sys.stderr)\n"
)
