#!/usr/bin/env bash
# Builds the engine image (Dockerfile at the repository root) and pushes it as
# <repository>:git-<commit>. The ECR repositories have immutable tags: a tag is never reused.
#
#   deploy/image/build.sh <account>.dkr.ecr.<region>.amazonaws.com/medallion-<env>/engine
#
# Needs a Docker engine (or Podman as `docker`) and a clean work tree (the tag must name
# exactly what was built). Log in first: aws ecr get-login-password | docker login ...
# Then: terraform apply -var engine_image_tag=git-<commit> (deploy/README.md).
set -euo pipefail
repo="${1:?usage: deploy/image/build.sh <ecr repository url>}"
cd "$(dirname "$0")/../.."
if [ -n "$(git status --porcelain)" ]; then
  echo "build.sh: the work tree has uncommitted changes; commit them first (the tag names the commit)" >&2
  exit 1
fi
tag="git-$(git rev-parse --short=12 HEAD)"
if ! docker info >/dev/null 2>&1; then
  echo "build.sh: no Docker engine answers (docker info failed); build on a machine with one" >&2
  exit 1
fi
docker build --pull -t "$repo:$tag" .
# The image's own command lines, as the task definitions run them (read-only root, user 10001).
docker run --rm --read-only --tmpfs /tmp "$repo:$tag" medallion --version
docker run --rm --read-only --tmpfs /tmp "$repo:$tag" medallion validate jobs/
docker push "$repo:$tag"
echo "pushed $repo:$tag; now: terraform apply -var engine_image_tag=$tag"
