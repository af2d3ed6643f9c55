#!/usr/bin/env bash
# Makes sure the .NET 10 SDK is on PATH.
set -euo pipefail

if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: the .NET SDK ('dotnet') is not on PATH; install the .NET 10 SDK: https://dotnet.microsoft.com/download" >&2
  exit 1
fi
if ! dotnet --list-sdks | grep -q '^10\.'; then
  echo "error: the .NET 10 SDK is needed; found: $(dotnet --list-sdks | tr '\n' ' ')" >&2
  exit 1
fi
