#!/usr/bin/env bash
# npm run test:e2e:compose: the deployed system of docker-compose.yml under test.
#
# 1. `docker compose up -d --build --wait` (`docker-compose` v1 if the v2 plugin is missing: it has no
#    --wait, so every service's health is polled instead);
# 2. the black-box system suite (npm run test:system) against the deployed producer and consumer
#    containers, on the ports compose publishes;
# 3. the e2e suites (their own app processes, vhosts and Redis dbs) against compose's RabbitMQ and Redis;
# 4. always `down -v` at the end (containers and volumes removed).
# Extra arguments go to jest in step 3 (e.g. a test path pattern). SYSTEM_API_KEY, when set, is given
# to the containers as API_KEYS and to the system suite as its key.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose --file "$root/docker-compose.yml")
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose --file "$root/docker-compose.yml")
else
  echo "compose.sh: neither 'docker compose' nor 'docker-compose' is installed" >&2
  exit 1
fi
v2=false
[ "${compose[0]}" = docker ] && v2=true

scratch=$(mktemp -d)
cleanup() {
  echo "== ${compose[*]} down -v"
  "${compose[@]}" down -v --remove-orphans || true
  rm -rf "$scratch"
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

show_state() {
  "${compose[@]}" ps || true
  "${compose[@]}" logs --no-color --tail=100 || true
}

echo "== ${compose[*]} up -d --build"
if $v2; then
  up=("${compose[@]}" up -d --build --wait --wait-timeout "${COMPOSE_WAIT_SECONDS:-240}")
else
  up=("${compose[@]}" up -d --build)
fi
# API_KEYS only for compose's interpolation: the e2e suites' own apps below must not inherit it.
if ! API_KEYS="${SYSTEM_API_KEY:-}" "${up[@]}" || { ! $v2 && ! wait_healthy; }; then
  show_state
  exit 1
fi

# Where compose publishes the services on this machine (docker-compose.yml `ports`).
export RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672
export REDIS_URL=redis://127.0.0.1:6379

echo "== system suite against the deployed containers"
if ! PRODUCER_URL=http://127.0.0.1:3000 CONSUMER_URL=http://127.0.0.1:3001 npm run --silent test:system -- --ci; then
  show_state
  exit 1
fi

# The e2e suites create a vhost per suite (and delete it after) with rabbitmqctl on the broker's node,
# which runs in its container here: RABBITMQCTL names the program the harness runs
# (test/support/rabbitmqctl.ts) with rabbitmqctl's arguments, so it is a wrapper script, not a command line.
cat >"$scratch/rabbitmqctl" <<EOF
#!/usr/bin/env bash
exec $(printf '%q ' "${compose[@]}") exec -T rabbitmq rabbitmqctl "\$@"
EOF
chmod +x "$scratch/rabbitmqctl"
export RABBITMQCTL="$scratch/rabbitmqctl"

echo "== build (the e2e suites run the built apps)"
npm run build

echo "== e2e suites against compose's RabbitMQ and Redis"
npx jest --config test/jest-e2e.config.js --runInBand "$@"
