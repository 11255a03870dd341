#!/bin/sh
# mmdebstrap --customize-hook for every Bosun tool image: adds the non-root user the
# task runner uses (uid/gid 1000 `bosun`, home /home/bosun). The image metadata keeps
# root as its user and carries LABEL org.bosun.user=bosun so the runner can find it.
# $1 is the root directory of the image being built.
set -eu
root="$1"
chroot "$root" groupadd --gid 1000 bosun
chroot "$root" useradd --create-home --home-dir /home/bosun --uid 1000 --gid 1000 \
    --shell /bin/bash bosun
