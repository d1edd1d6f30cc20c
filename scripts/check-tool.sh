#!/usr/bin/env bash
# Packs the worker as the `invalidator` dotnet tool and installs it as a user would, but offline: from the packages
# just made, into a fresh tool path, with a NuGet configuration that lists only that folder (a plain --add-source
# would still ask nuget.org) and fresh package caches. Then runs `invalidator --help` and
# `invalidator rules check deploy/rules.example.yaml` from the installed tool, and checks that its invalidator.dll is
# ReadyToRun (scripts/check-ready-to-run.cs). Run by .ci/run; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/invalidator-tool.XXXXXX")
trap 'rm -rf "$work"' EXIT

dotnet pack src/Invalidator.Worker -c Release -o "$work/feed" --nologo --verbosity quiet

cat >"$work/nuget.config" <<CONFIG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="invalidator-local" value="$work/feed" />
  </packageSources>
  <fallbackPackageFolders>
    <clear />
  </fallbackPackageFolders>
</configuration>
CONFIG

NUGET_PACKAGES="$work/packages" NUGET_HTTP_CACHE_PATH="$work/http-cache" \
    dotnet tool install invalidator --tool-path "$work/tools" --configfile "$work/nuget.config" >/dev/null

# The pointer package names one package per runtime; the install fetched the one for this machine.
installed=$(cd "$work/tools/.store/invalidator" && ls -d */invalidator.* | sed 's|.*/||')
# Each runtime's package holds the ReadyToRun build (issue 21, a warm first change): the installed invalidator.dll
# must carry precompiled code, or the first change after every start waits for the JIT.
dll=$(find "$work/tools/.store/invalidator" -path "*/$installed/*" -name invalidator.dll -print -quit)
if [[ -z $dll ]]; then
    echo "dotnet tool: no invalidator.dll in the installed package $installed" >&2
    exit 1
fi
if ! dotnet run scripts/check-ready-to-run.cs -- "$dll"; then
    echo "dotnet tool: the installed invalidator.dll is not ReadyToRun: the RID-specific packs must publish with PublishReadyToRun (src/Invalidator.Worker/Invalidator.Worker.csproj)" >&2
    exit 1
fi
"$work/tools/invalidator" --help >"$work/help.txt"
grep -q "rules" "$work/help.txt"
"$work/tools/invalidator" rules check deploy/rules.example.yaml

sizes=$(cd "$work/feed" && for package in *.nupkg; do printf '%s %s KB; ' "$package" $(( $(stat -c %s "$package") / 1024 )); done)
echo "dotnet tool: installed offline from the local package ($installed, ReadyToRun); --help and rules check ran. Packages: ${sizes%; }"
