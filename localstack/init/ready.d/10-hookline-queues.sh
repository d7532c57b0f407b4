#!/bin/sh
# LocalStack init hook: create Hookline's queue pair once SQS is ready.
# docker-compose.yml mounts the linux hookline binary (make build-linux) and
# deploy/config.json under /opt/hookline. Idempotent: a restart changes nothing.
set -eu
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
exec /opt/hookline/hookline queues create \
  --config /opt/hookline/config.json \
  --endpoint-url http://localhost:4566 \
  --log-format json
