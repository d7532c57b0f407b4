# syntax=docker/dockerfile:1
# Hookline: one static binary in a distroless image. Multi-platform without
# emulation: the build stage runs on the builder's platform and cross-compiles
# for each target (Go needs no emulator for that):
#   docker buildx build --platform linux/amd64,linux/arm64 -t hookline .
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /hookline ./cmd/hookline

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="hookline" \
      org.opencontainers.image.description="Pusher-compatible webhooks delivered reliably through AWS SQS" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/hookline/hookline"
COPY --from=build /hookline /hookline
# 9464: the worker's /healthz, /readyz and /metrics; 8080: ingest.
EXPOSE 9464 8080
USER nonroot:nonroot
# One image runs the worker, ingest and the receiver, so the health check is
# set where the role is known (docker-compose.yml, the ECS task definitions):
# ["CMD", "/hookline", "healthcheck"] for the worker, with
# --url http://127.0.0.1:8080/healthz for ingest. distroless has no shell.
ENTRYPOINT ["/hookline"]
