#!/usr/bin/env python3
"""The image (Dockerfile) and the task definitions (modules/environment/compute.tf) agree:
the same user, working directory with jobs/ and schemas/, MEDALLION_SCHEMAS, a /tmp volume
for the read-only root filesystem, `medallion` on PATH, and job paths that exist in the image.

Usage: check_image.py [REPO]   (one PASS/FAIL line per fact; exit 1 on any FAIL)
"""
import os
import re
import sys

repo = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
docker = open(os.path.join(repo, "Dockerfile")).read()
compute = open(os.path.join(repo, "deploy/terraform/modules/environment/compute.tf")).read()
variables = open(os.path.join(repo, "deploy/terraform/modules/environment/variables.tf")).read()
final = docker[docker.rindex("\nFROM "):]  # the runtime stage
fails = 0


def check(ok, what):
    global fails
    print(("PASS " if ok else "FAIL ") + what)
    fails += not ok


user = re.search(r"^USER (\d+)", final, re.M)
task_users = set(re.findall(r'user\s*=\s*"(\d+)"', compute))
check(user and task_users == {user.group(1)}, f"image USER {user and user.group(1)} = task definitions' user {sorted(task_users)}")
check("readonlyRootFilesystem = true" in compute.replace("  ", " ") or re.search(r"readonlyRootFilesystem\s*=\s*true", compute),
      "task definitions use a read-only root filesystem")
check(re.search(r'^VOLUME \["/tmp"\]', final, re.M) and re.search(r'containerPath\s*=\s*"/tmp"', compute)
      and re.search(r'TMPDIR", value = "/tmp"', compute), "the image declares /tmp a volume; tasks mount a volume there and set TMPDIR=/tmp")
workdir = re.search(r"^WORKDIR (\S+)", final, re.M)
schemas = re.search(r'MEDALLION_SCHEMAS", value = "([^"]+)"', compute)
check(workdir and schemas and schemas.group(1) == f"{workdir.group(1)}/schemas"
      and re.search(r"^COPY .*schemas \./schemas", final, re.M),
      f"MEDALLION_SCHEMAS ({schemas and schemas.group(1)}) is the image's {workdir and workdir.group(1)}/schemas")
check(re.search(r"^COPY .*jobs \./jobs", final, re.M) and re.search(r"^COPY .*testdata \./testdata", final, re.M),
      "the image holds jobs/ and testdata/ (the example jobs' local sources) in its working directory")
check("/usr/local/bin/medallion" in final and "ENTRYPOINT []" in final,
      "medallion is on PATH and there is no entrypoint (the task commands start with `medallion`)")
stream_job = re.search(r'path\s*=\s*"(jobs/[^"]+)"', variables[variables.index('variable "stream_job"'):])
check(stream_job and os.path.isfile(os.path.join(repo, stream_job.group(1))),
      f"the stream job {stream_job and stream_job.group(1)} exists in jobs/ (copied into the image)")
print(f"image: {fails} failed")
sys.exit(1 if fails else 0)
