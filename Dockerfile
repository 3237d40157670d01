# schedworker container image: build on Debian 12 with the -dev packages,
# run on debian:12-slim with only the runtime libraries, as a non-root user.
#
#   docker build --build-arg SW_VERSION="$(git describe --always --dirty)" -t schedworker .
#   docker run --rm schedworker --check-config /etc/schedworker/schedworker.conf
#
# The version (git describe; the build context has no .git, so it is passed
# in) is compiled in (--version, schedworker_build_info) and is the OCI
# label org.opencontainers.image.version.  HEALTHCHECK runs `schedworker
# health`: healthy while /readyz answers 200 (on SCHED_HTTP_LISTEN's port).
#
# Settings come from SCHED_* environment variables (see docker-compose.yml)
# and secrets from mounted files (*_file settings); none is baked in.

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential pkg-config librdkafka-dev libcurl4-openssl-dev libjansson-dev \
      libhiredis-dev libssl-dev libmicrohttpd-dev libsystemd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY include/ include/
COPY src/ src/
ARG SW_VERSION=unknown
RUN make -j"$(nproc)" SW_VERSION="$SW_VERSION" build/schedworker && strip build/schedworker

FROM debian:12-slim
ARG SW_VERSION=unknown
LABEL org.opencontainers.image.title="schedworker" \
      org.opencontainers.image.description="Kafka-driven scheduling worker for OpenEMR" \
      org.opencontainers.image.version="$SW_VERSION" \
      org.opencontainers.image.base.name="docker.io/library/debian:12-slim"
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 libcurl4 libjansson4 libhiredis0.14 libssl3 libmicrohttpd12 libsystemd0 \
      ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 schedworker \
 && useradd --system --uid 10001 --gid schedworker --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin schedworker
COPY --from=build /src/build/schedworker /usr/local/bin/schedworker
COPY config/container.conf /etc/schedworker/schedworker.conf
USER 10001:10001
# /metrics, /healthz, /readyz (http.listen; SCHED_HTTP_LISTEN=0.0.0.0:9464)
EXPOSE 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=6s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/schedworker", "health"]
ENTRYPOINT ["/usr/local/bin/schedworker"]
CMD ["--config", "/etc/schedworker/schedworker.conf"]
