# syntax=docker/dockerfile:1.7
# The booking image: the store (also runs `booking migrate` and `booking seed`).
# Build from the repository root:
#   docker build -f deploy/docker/booking.Dockerfile -t ticketing-booking:0.1.0 .

# Build stage: the toolchain of rust-toolchain.toml, dependencies cached
# between builds.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p booking \
 && cp target/release/booking /usr/local/bin/booking

# Runtime stage: a small Debian with the binary only (scripts, assets and
# migrations are compiled in), running as an unprivileged user.
FROM debian:bookworm-slim
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app \
 && mkdir /data && chown app:app /data
COPY --from=build /usr/local/bin/booking /usr/local/bin/booking
USER 10001:10001
ENV BOOKING_ADDR=0.0.0.0:8081
EXPOSE 8081
# SIGTERM: /readyz turns 503, in-flight requests drain, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/booking"]
