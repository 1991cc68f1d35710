# syntax=docker/dockerfile:1.7
# Multi-stage build of the `autofix` worker. Railway builds this file (railway.json) and sets PORT.
#
# No `RUN --mount=type=cache`: Railway refuses a cache mount unless its id is
# `s/<service id>-<target path>`, and the id cannot come from a variable, so a mount that works
# for every user's service cannot be written here. To cache on Railway, add your own service id:
#   RUN --mount=type=cache,id=s/<service id>-/usr/local/cargo/registry,target=/usr/local/cargo/registry \
#       --mount=type=cache,id=s/<service id>-/src/target,target=/src/target \
#       cargo build ...
# (`.ci/deploy-check` fails on any cache mount without such an id.)

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY tests tests
RUN cargo build --release --locked -p autofix \
 && cp target/release/autofix /usr/local/bin/autofix

FROM debian:bookworm-slim AS runtime
# ca-certificates: rustls verifies Railway, GitHub and LLM endpoints against the system store.
# curl: the HEALTHCHECK below.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin autofix
COPY --from=build /usr/local/bin/autofix /usr/local/bin/autofix
USER 10001:10001
# `::` listens on IPv6 and IPv4 (dual stack): Railway's private network is IPv6-only in
# environments created before 2025-10-16.
ENV PORT=3000 \
    HOST=:: \
    AUTOFIX_LOG_FORMAT=json \
    RUST_LOG=info
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PORT}/healthz" || exit 1
ENTRYPOINT ["/usr/local/bin/autofix"]
CMD ["serve"]
