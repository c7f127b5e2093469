"""Rewrite stored measured-LLC tables with today's key names (values and formatting untouched).

The loader (:func:`comparisons.jobs.llc.read_table`) already reads an old table under the new
names (:func:`bayes_tms.llc.upgrade_table`: the NUTS ``tune`` is ``warmup``); this script makes
the change in the files themselves, e.g. for tables shipped in ``comparisons/theory/data``::

    PYTHONPATH=$PWD python benchmarks/upgrade_llc_tables.py comparisons/theory/data/llc_measured_c*.json

A file already up to date is left as it is. The JSON is written as the job writes it
(:func:`comparisons.io.write_json`, two-space indent), so only the renamed keys change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    from comparisons.io import write_json
    from comparisons.jobs.llc import read_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", type=Path, help="llc_measured_c*.json files, rewritten in place")
    args = ap.parse_args(argv)
    for path in args.paths:
        if not path.is_file():
            print(f"{path}: expected an existing file, got none", file=sys.stderr)
            return 2
        table = read_table(path)
        if table == json.loads(path.read_text()):
            print(f"{path}: up to date")
            continue
        write_json(path, table)
        print(f"{path}: key names upgraded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
