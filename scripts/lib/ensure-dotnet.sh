#!/usr/bin/env bash
# Makes sure the .NET 10 SDK is on PATH.
set -euo pipefail

if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: the .NET SDK ('dotnet') is not on PATH; install the .NET 10 SDK: https://dotnet.microsoft.com/download" >&2
  exit 1
fi
sdks=$(dotnet --list-sdks)
if ! grep -q '^10\.' <<<"$sdks"; then
  echo "error: the .NET 10 SDK is needed; found: $(tr '\n' ' ' <<<"$sdks")" >&2
  exit 1
fi
