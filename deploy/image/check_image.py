#!/usr/bin/env python3
"""The image (Dockerfile) and the task definitions (modules/environment) agree, and the binary
the image ships finds its shared libraries there. No Docker engine is needed (none runs here).

- Every ECS task definition of modules/environment that runs the engine image builds its
  container from the one `local.engine_container` (compute.tf), and has the `tmp` volume;
  `local.image` is used nowhere else (no engine container written out by hand).
- `local.engine_container`: the Dockerfile's USER, a read-only root filesystem, the task volume
  mounted at /tmp (the image's VOLUME); the engine environment sets TMPDIR=/tmp and
  MEDALLION_SCHEMAS = the image's <WORKDIR>/schemas.
- The image holds jobs/, schemas/, testdata/; `medallion` is on PATH, no entrypoint; the stream
  job exists.
- The binary's DT_NEEDED libraries (readelf -d) are all in the runtime stage: the libraries of
  its distroless base (RUNTIME_BASE_LIBS below) or copied into it by the Dockerfile. A new
  dynamic dependency of the engine (libsasl2 for Kerberos, libcurl, ...) fails here, not at the
  first task start. The binary checked is the debug build check.sh uses (same crates and
  features as the image's release build; the release build is checked when given).

Usage: check_image.py [REPO] [--binary PATH | --no-binary]
  PATH default: $MEDALLION_BIN; a missing binary is a FAIL. --no-binary leaves out the libraries
  (the mutation tests, which edit only the Terraform, run the rest on their copy).
One PASS/FAIL line per fact; exit 1 on any FAIL.
"""
import glob
import os
import re
import subprocess
import sys

args = [a for a in sys.argv[1:]]
binary = os.environ.get("MEDALLION_BIN", "")
no_binary = "--no-binary" in args
if no_binary:
    args.remove("--no-binary")
if "--binary" in args:
    i = args.index("--binary")
    binary = args[i + 1]
    del args[i:i + 2]
repo = args[0] if args else os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
docker = open(os.path.join(repo, "Dockerfile")).read()
env_dir = os.path.join(repo, "deploy/terraform/modules/environment")
sources = {os.path.basename(p): open(p).read() for p in sorted(glob.glob(os.path.join(env_dir, "*.tf")))}
compute = sources["compute.tf"]
variables = sources["variables.tf"]
final = docker[docker.rindex("\nFROM "):]  # the runtime stage
fails = 0

# What gcr.io/distroless/cc-debian12 provides (its base: glibc, libssl3, openssl, ca-certificates;
# cc adds libgcc-s1, libgomp1, libstdc++6): the sonames a binary may need without a COPY.
RUNTIME_BASE = "gcr.io/distroless/cc-debian12"
RUNTIME_BASE_LIBS = {
    "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
    "ld-linux-x86-64.so.2", "libresolv.so.2", "libgcc_s.so.1", "libstdc++.so.6", "libgomp.so.1",
    "libssl.so.3", "libcrypto.so.3",
}


def check(ok, what):
    global fails
    print(("PASS " if ok else "FAIL ") + what)
    fails += not ok


def hcl_block(text, start):
    """The text of the brace-balanced block that opens at or after `start`."""
    i = text.index("{", start)
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j + 1]
    raise ValueError("unbalanced block")


def strip_comments(text):
    return re.sub(r"(?m)^\s*#.*$", "", text)


# ---- the one engine container
m = re.search(r"^\s*engine_container\s*=\s*\{", compute, re.M)
container = hcl_block(compute, m.start()) if m else ""
user = re.search(r"^USER (\d+)", final, re.M)
c_user = re.search(r'user\s*=\s*"(\d+)"', container)
check(user and c_user and c_user.group(1) == user.group(1),
      f"image USER {user and user.group(1)} = local.engine_container's user {c_user and c_user.group(1)}")
check(re.search(r"readonlyRootFilesystem\s*=\s*true", container) and re.search(r"image\s*=\s*local\.image\b", container)
      and re.search(r"mountPoints\s*=\s*local\.tmp_mount\b", container),
      "local.engine_container: the engine image, a read-only root filesystem, mountPoints = local.tmp_mount")
tmp_mount = re.search(r"^\s*tmp_mount\s*=\s*\[\{([^\n]*)\}\]", compute, re.M)
check(re.search(r'^VOLUME \["/tmp"\]', final, re.M) and tmp_mount
      and re.search(r'sourceVolume\s*=\s*"tmp"', tmp_mount.group(1)) and re.search(r'containerPath\s*=\s*"/tmp"', tmp_mount.group(1))
      and re.search(r"readOnly\s*=\s*false", tmp_mount.group(1)),
      "the image declares /tmp a volume; local.tmp_mount mounts the writable task volume `tmp` there")
m = re.search(r"^\s*engine_environment\s*=\s*\[", compute, re.M)
environment = compute[m.start():compute.index("\n  ]", m.start())] if m else ""
check(re.search(r'"TMPDIR", value = "/tmp"', environment), "the engine environment sets TMPDIR=/tmp")

# ---- every engine task definition uses it
task_defs = []
for name, text in sources.items():
    code = strip_comments(text)
    for td in re.finditer(r'^resource "aws_ecs_task_definition" "(\w+)"', code, re.M):
        task_defs.append((name, td.group(1), hcl_block(code, td.end())))
check(len(task_defs) >= 7, f"task definitions found in modules/environment: {sorted(t for _, t, _ in task_defs)}")
# what local.engine_container decides, which a task definition must not set again (a merge that
# overrides it, or a container written out by hand)
OWNED = ("image", "user", "readonlyRootFilesystem", "privileged", "mountPoints", "essential")
for name, td, body in task_defs:
    containers = body[body.index("container_definitions"):] if "container_definitions" in body else ""
    overrides = [k for k in OWNED if re.search(rf"\b{k}\s*=", containers)]
    check(re.search(r"container_definitions\s*=\s*jsonencode\(\[merge\(local\.engine_container,", body) and not overrides
          and re.search(r'volume\s*\{\s*name\s*=\s*"tmp"\s*\}', body),
          f"{name}: aws_ecs_task_definition.{td} builds its engine container from local.engine_container (overriding none of "
          f"{', '.join(OWNED)}{'; it sets ' + ', '.join(overrides) if overrides else ''}), with the `tmp` volume")
image_uses = [(n, len(re.findall(r"\blocal\.image\b", strip_comments(t)))) for n, t in sources.items()]
check(sum(c for _, c in image_uses) == 1,
      f"local.image is used only by local.engine_container (uses per file: {[u for u in image_uses if u[1]]})")

# ---- the image's contents
workdir = re.search(r"^WORKDIR (\S+)", final, re.M)
schemas = re.search(r'MEDALLION_SCHEMAS", value = "([^"]+)"', environment)
check(workdir and schemas and schemas.group(1) == f"{workdir.group(1)}/schemas"
      and re.search(r"^COPY .*schemas \./schemas", final, re.M),
      f"MEDALLION_SCHEMAS ({schemas and schemas.group(1)}) is the image's {workdir and workdir.group(1)}/schemas")
check(re.search(r"^COPY .*jobs \./jobs", final, re.M) and re.search(r"^COPY .*testdata \./testdata", final, re.M),
      "the image holds jobs/ and testdata/ (the example jobs' local sources) in its working directory")
check(re.search(r"^COPY --from=build \S*/medallion /usr/local/bin/medallion$", final, re.M) and re.search(r"^ENTRYPOINT \[\]", final, re.M),
      "medallion is on PATH and there is no entrypoint (the task commands start with `medallion`)")
stream_job = re.search(r'path\s*=\s*"(jobs/[^"]+)"', variables[variables.index('variable "stream_job"'):])
check(stream_job and os.path.isfile(os.path.join(repo, stream_job.group(1))),
      f"the stream job {stream_job and stream_job.group(1)} exists in jobs/ (copied into the image)")

# ---- the binary's shared libraries are in the runtime stage
base = re.search(r"^FROM (\S+)", final.lstrip("\n"), re.M)
check(base and base.group(1).split(":")[0] == RUNTIME_BASE,
      f"the runtime stage's base {base and base.group(1)} is {RUNTIME_BASE} (the libraries this check knows)")
copied = set(os.path.basename(p) for p in re.findall(r"^COPY --from=build \S+ (/(?:usr/)?lib/\S+)$", final, re.M))
if no_binary:
    pass
elif binary and os.path.isfile(binary):
    try:
        out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True)
    except FileNotFoundError:
        out = subprocess.CompletedProcess([], 127, "", "readelf (binutils) is not installed")
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out.stdout))
    missing = sorted(needed - RUNTIME_BASE_LIBS - copied)
    check(out.returncode == 0 and needed and not missing,
          f"{binary}: every shared library it needs is in the image ({sorted(needed)}; copied by the Dockerfile: "
          f"{sorted(copied)}){'; MISSING: ' + ', '.join(missing) if missing else ''}{'; ' + out.stderr.strip() if out.returncode else ''}")
else:
    check(False, f"the medallion binary to check the image's libraries against ({binary or 'MEDALLION_BIN unset'}) is missing")
print(f"image: {fails} failed")
sys.exit(1 if fails else 0)
