#!/usr/bin/env python3
"""Sums the TRX results of every test project under a directory and prints "N passed, N failed, N skipped".

Exits 1 if a test failed, a test project left no results (build failure, crashed test host), or, with
CI=true, an integration test was skipped. Diagnostics go to stderr; the summary is the last stdout line.
"""
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
SKIPPED = {"NotExecuted"}
INTEGRATION_PROJECT = "Invalidator.IntegrationTests"


def main(tests_dir: str) -> int:
    passed = failed = skipped = 0
    problems = []
    ci = os.environ.get("CI", "").lower() == "true"

    for project in sorted(p for p in Path(tests_dir).iterdir() if any(p.glob("*.csproj"))):
        trx_files = sorted(project.glob("TestResults/*.trx"), key=lambda f: f.stat().st_mtime)
        if not trx_files:
            problems.append(f"{project.name}: no test results (did it build? did the test host crash?)")
            continue
        root = ET.parse(trx_files[-1]).getroot()
        for result in root.iterfind(".//t:Results/t:UnitTestResult", NS):
            outcome = result.get("outcome", "")
            name = result.get("testName", "?")
            if outcome == "Passed":
                passed += 1
            elif outcome in SKIPPED:
                skipped += 1
                if ci and project.name == INTEGRATION_PROJECT:
                    problems.append(f"{project.name}: skipped in CI: {name}")
            else:
                failed += 1
                problems.append(f"{project.name}: {outcome}: {name}")

    for problem in problems:
        print(problem, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "tests"))
