# toolgate's container image.
#   docker build -t toolgate:0.1.0 .
#   docker run --rm -p 8000:8000 -p 9901:9901 toolgate:0.1.0
# Paths in the image: the binary /usr/local/bin/toolgate; config/ at /etc/toolgate/config/
# and policies/ at /etc/toolgate/policies/, as in the repository (the shipped config's
# `policies: ../policies/tools` resolves there). Mount your own over them.
# tests/dockerfile.rs checks the stages, the user, the entrypoint and these paths.

# ---- build: dependencies first, in a layer that changes only with Cargo.toml/Cargo.lock
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Stub targets so `cargo build` compiles (and caches) every dependency without the source.
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > benches/engine.rs \
 && cargo build --release --locked \
 && rm -rf src benches
COPY src ./src
COPY benches ./benches
# touch: the stubs were built later than the copied sources' timestamps.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin toolgate

# ---- runtime: glibc and CA certificates, no shell, no package manager, non-root
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /src/target/release/toolgate /usr/local/bin/toolgate
COPY config/ /etc/toolgate/config/
COPY policies/ /etc/toolgate/policies/
WORKDIR /etc/toolgate
USER 65532:65532
# The proxy (listen) and the admin listener (health, readiness, metrics).
EXPOSE 8000 9901
ENTRYPOINT ["toolgate", "serve"]
# In a container the admin listener must bind every interface to be reachable at all;
# only published ports are. Arguments given to `docker run` replace these.
CMD ["--config", "/etc/toolgate/config/toolgate.yaml", "--admin-listen", "0.0.0.0:9901"]
