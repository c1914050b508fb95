# The medallion engine image run by the platform's ECS task definitions
# (deploy/terraform/modules/environment/compute.tf):
#   batch:  medallion run jobs/ --env <env>
#   stream: medallion stream jobs/streaming/clickstream.yaml --env <env> --metrics-addr 127.0.0.1:9464
# with MEDALLION_ENVIRONMENTS=s3://<lake>/_medallion/environments.yaml (rendered by Terraform),
# MEDALLION_SCHEMAS=/app/schemas, a read-only root filesystem, user 10001 and a writable /tmp
# task volume. Build and push: deploy/image/build.sh (tag git-<commit>; ECR tags are immutable).

# ---- build: the release binary (bundled librdkafka needs cmake; zlib is linked dynamically)
FROM rust:1.95-bookworm AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake pkg-config libssl-dev zlib1g-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY engine ./engine
COPY benches ./benches
RUN cargo build --release --locked -p medallion-cli --bin medallion \
 && strip target/release/medallion

# ---- run: distroless (glibc, CA certificates, no shell), non-root
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1
COPY --from=build /src/target/release/medallion /usr/local/bin/medallion
WORKDIR /app
COPY --chown=0:0 jobs ./jobs
COPY --chown=0:0 schemas ./schemas
COPY --chown=0:0 testdata ./testdata
ENV MEDALLION_SCHEMAS=/app/schemas \
    MEDALLION_LOG=info \
    MEDALLION_LOG_FORMAT=json \
    TMPDIR=/tmp
USER 10001:10001
VOLUME ["/tmp"]
ENTRYPOINT []
CMD ["medallion", "--help"]
