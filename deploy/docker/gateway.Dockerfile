# syntax=docker/dockerfile:1.7
# The gateway image: the waiting room.
# Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t ticketing-gateway:0.1.0 .

# Build stage: the toolchain of rust-toolchain.toml, dependencies cached
# between builds.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p gateway \
 && cp target/release/gateway /usr/local/bin/gateway

# Runtime stage: a small Debian with the binary only (scripts, assets and
# migrations are compiled in), running as an unprivileged user.
FROM debian:bookworm-slim
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app \
 && mkdir /data && chown app:app /data
COPY --from=build /usr/local/bin/gateway /usr/local/bin/gateway
USER 10001:10001
ENV GATEWAY_ADDR=0.0.0.0:8080 DATA_DIR=/data
EXPOSE 8080
# SIGTERM: /readyz turns 503, in-flight requests drain, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/gateway"]
