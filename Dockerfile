# Multi-stage build: compile with the Rust toolchain, run on a small Debian image.
# Mirrors ./scripts/serve.sh: the same binary, roles chosen by the command.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY config config
COPY benches benches
COPY examples examples
COPY tests tests
COPY README.md README.md
RUN cargo build --release --locked --bin octohooks

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 octohooks
COPY --from=build /src/target/release/octohooks /usr/local/bin/octohooks
COPY config /etc/octohooks
USER octohooks
EXPOSE 8080 9100
ENTRYPOINT ["octohooks", "--config", "/etc/octohooks/production.toml"]
CMD ["serve"]
