# syntax=docker/dockerfile:1.7
# Multi-stage build of the `autofix` worker. Railway builds this file automatically and sets PORT.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild the whole tree.
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY tests tests
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p autofix \
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
ENV PORT=3000 \
    HOST=0.0.0.0 \
    AUTOFIX_LOG_FORMAT=json \
    RUST_LOG=info
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PORT}/healthz" || exit 1
ENTRYPOINT ["/usr/local/bin/autofix"]
CMD ["serve"]
