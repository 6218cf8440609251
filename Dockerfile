# syntax=docker/dockerfile:1
#
# One image for both services; the command picks the app:
#   producer: node dist/apps/producer/apps/producer/src/main.js
#   consumer: node dist/apps/consumer/apps/consumer/src/main.js
# docker-compose.yml sets the command and the healthcheck per service.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: all dependencies, compile both apps into dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV SCARF_ANALYTICS=false
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json nest-cli.json ./
COPY libs ./libs
COPY apps ./apps
RUN npm run build

# ---- runtime: production dependencies and dist/ only, as the unprivileged node user ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    SCARF_ANALYTICS=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000 3001
# Overridden per service in docker-compose.yml; the producer by default.
CMD ["node", "dist/apps/producer/apps/producer/src/main.js"]
