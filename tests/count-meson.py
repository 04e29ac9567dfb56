#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Counts test cases from meson's testlog.json: cmocka programs count each case (their
"[  PASSED  ] N test(s)" / "[  FAILED  ] N test(s)" lines), other programs count as one.
A program that failed without a cmocka verdict (a crash, a sanitizer abort) counts as one
failure. Prints "unit: N passed, N failed"."""
import json
import re
import sys

passed = failed = 0
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        p = sum(int(n) for n in re.findall(r"\[  PASSED  \] (\d+) test", out))
        fl = sum(int(n) for n in re.findall(r"\[  FAILED  \] (\d+) test", out))
        ok = t.get("result") == "OK"
        if p or fl:
            passed += p
            failed += fl
            if not ok and fl == 0:
                failed += 1
        elif ok:
            passed += 1
        else:
            failed += 1
print(f"unit: {passed} passed, {failed} failed")
