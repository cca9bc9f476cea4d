#!/usr/bin/env bash
# `make image-test` needs a container engine: Docker, or podman where Docker is absent.
# Where neither answers and this is Debian run as root (CI), install podman, with runc and
# debootstrap (the tests make their Python base image from Debian's packages where no
# container registry is reachable); elsewhere, say what to install.
set -euo pipefail
if docker info >/dev/null 2>&1 || podman info >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "image tests: installing podman, runc and debootstrap (Debian's packages)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
  podman info >/dev/null
  exit 0
fi
echo "image tests: neither Docker nor podman answers here; install and start one (on Debian: apt-get install podman runc debootstrap)" >&2
exit 1
