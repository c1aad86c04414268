# Herald's images, one file, two targets (plus `embedded`, the all-in-one process):
#   docker build --target web      -t herald-web:0.1.0 .
#   docker build --target notifier -t herald-notifier:0.1.0 .
# Multi-stage: dependencies are installed in a build stage; the runtime stages get the
# production dependencies only (tsx, the TypeScript loader Herald runs with as `npm start`
# does, is one of them), run as a non-root user (uid 10001, what the Helm chart's securityContext
# sets) and write nothing outside /tmp and /data, so a read-only root filesystem works with
# emptyDirs there. SIGTERM is handled by the processes (they stop within 10 s).
#
# NODE_IMAGE is the base; it defaults to the official Node 20 image. Where no registry is
# reachable, scripts/build-images.sh makes a local one from Debian (localhost/herald-node:20-trixie).
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
COPY services/core/package.json services/core/
COPY services/web/package.json services/web/
COPY services/notifier/package.json services/notifier/
COPY services/embedded/package.json services/embedded/
# Production dependencies of every workspace, tsx (the TypeScript loader Herald runs with) among them.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV NODE_ENV=production HERALD_DATA_DIR=/data TMPDIR=/tmp
RUN (getent group 10001 || groupadd --system --gid 10001 herald) \
 && (getent passwd 10001 || useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin herald) \
 && mkdir -p /data && chown 10001:10001 /data
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY services/core ./services/core
USER 10001:10001
VOLUME ["/tmp", "/data"]

FROM base AS web
COPY services/web ./services/web
ENV PORT=8080
EXPOSE 8080
CMD ["node", "--import", "tsx", "services/web/src/main.ts"]

FROM base AS notifier
COPY services/notifier ./services/notifier
ENV APP_PORT=8081
EXPOSE 8081
CMD ["node", "--import", "tsx", "services/notifier/src/main.ts"]

# Everything in one process (`npm start`): no Dapr needed; for trying the image out.
FROM base AS embedded
COPY services/web ./services/web
COPY services/notifier ./services/notifier
COPY services/embedded ./services/embedded
ENV PORT=8080
EXPOSE 8080
CMD ["node", "--import", "tsx", "services/embedded/src/main.ts"]
