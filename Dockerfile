# Hookline: one static binary. Build for amd64 and arm64 with
#   docker buildx build --platform linux/amd64,linux/arm64 -t hookline .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /hookline ./cmd/hookline

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /hookline /hookline
ENTRYPOINT ["/hookline"]
