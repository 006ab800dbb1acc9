#!/bin/bash
# The whole machine's busy and idle CPU seconds while a command runs (/proc/stat before and
# after): how much of two cores a benchmark left idle, PostgreSQL's work included, which the
# benchmark's own CPU time (its process and workers) does not count.
#   bench/cpustat.sh env EXPORT_WORKERS=2 DATABASE_URL=… .venv/bin/python bench/export.py 10000 …
read -r _ u n s i w q sq _ < /proc/stat
busy=$((u + n + s + q + sq)); idle=$((i + w))
"$@"
status=$?
read -r _ u n s i w q sq _ < /proc/stat
echo "machine busy cpu-s: $(((u + n + s + q + sq - busy) / 100)) idle cpu-s: $(((i + w - idle) / 100))"
exit $status
