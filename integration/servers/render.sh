#!/bin/sh
# Render a bed config template for the Docker images: every {{X}} becomes $X from the
# environment; an unset NAME is an error.  Same rule as integration/render.py (native runs).
# usage: render.sh TEMPLATE OUTPUT
set -eu
perl -pe 's/\{\{([A-Z0-9_]+)\}\}/defined $ENV{$1} ? $ENV{$1} : die "render.sh: $1 is not set\n"/ge' "$1" > "$2.tmp"
mv "$2.tmp" "$2"
