# schedworker container image: build on Debian 12 with the -dev packages,
# run on debian:12-slim with only the runtime libraries, as a non-root user.
#
#   docker build -t schedworker .
#   docker run --rm schedworker --check-config /etc/schedworker/schedworker.conf
#
# Settings come from SCHED_* environment variables (see docker-compose.yml)
# and secrets from mounted files (*_file settings); none is baked in.

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential pkg-config librdkafka-dev libcurl4-openssl-dev libjansson-dev \
      libhiredis-dev libssl-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY include/ include/
COPY src/ src/
RUN make -j"$(nproc)" build/schedworker && strip build/schedworker

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 libcurl4 libjansson4 libhiredis0.14 libssl3 libmicrohttpd12 \
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
ENTRYPOINT ["/usr/local/bin/schedworker"]
CMD ["--config", "/etc/schedworker/schedworker.conf"]
