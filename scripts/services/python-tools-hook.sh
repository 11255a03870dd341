#!/bin/sh
# mmdebstrap --customize-hook for bosun/python-tools: Debian names coverage.py's command
# python3-coverage; give it its usual name too, so `coverage run`/`coverage xml` work.
# $1 is the root directory of the image being built.
set -eu
ln -s /usr/bin/python3-coverage "$1/usr/local/bin/coverage"
