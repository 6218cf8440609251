#!/usr/bin/env bash
# npm run test:e2e:compose: the e2e suites against the RabbitMQ and Redis of docker-compose.yml.
#
# Starts the whole system (`docker compose up -d --build --wait`; `docker-compose` v1 if the v2 plugin
# is missing), runs the e2e suites against the published ports on 127.0.0.1, and always removes the
# containers and their volumes at the end. Extra arguments go to jest (e.g. a test path pattern).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "compose.sh: neither 'docker compose' nor 'docker-compose' is installed" >&2
  exit 1
fi

cleanup() {
  echo "== ${compose[*]} down -v"
  "${compose[@]}" down -v --remove-orphans || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# v1 has no --wait: poll every service's health until all are healthy (or one fails).
wait_healthy() {
  local deadline=$((SECONDS + ${COMPOSE_WAIT_SECONDS:-240})) service id state pending
  while :; do
    pending=
    for service in $("${compose[@]}" config --services); do
      id=$("${compose[@]}" ps -q "$service")
      state=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id" 2>/dev/null || echo missing)
      case "$state" in
        healthy) ;;
        unhealthy | exited | dead | missing)
          echo "compose.sh: service $service is $state" >&2
          return 1
          ;;
        *) pending+=" $service($state)" ;;
      esac
    done
    [ -z "$pending" ] && return 0
    if ((SECONDS >= deadline)); then
      echo "compose.sh: still not healthy:$pending" >&2
      return 1
    fi
    sleep 3
  done
}

echo "== ${compose[*]} up -d --build"
if [ "${compose[0]}" = docker ]; then
  up=("${compose[@]}" up -d --build --wait)
else
  up=("${compose[@]}" up -d --build)
fi
if ! "${up[@]}" || { [ "${compose[0]}" != docker ] && ! wait_healthy; }; then
  "${compose[@]}" ps || true
  "${compose[@]}" logs --no-color --tail=100 || true
  exit 1
fi

# The e2e suites create a vhost per suite (and delete it after), which needs rabbitmqctl on the
# broker's node. The broker runs in its container here, so the harness (test/support/test-env.ts)
# runs rabbitmqctl through `compose exec`: it honours RABBITMQCTL as the command to use.
export RABBITMQCTL="${compose[*]} exec -T rabbitmq rabbitmqctl"
export RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672
export REDIS_URL=redis://127.0.0.1:6379

echo "== build (the e2e suites run the built apps)"
npm run build

echo "== e2e suites"
npx jest --config test/jest-e2e.config.js --runInBand "$@"
