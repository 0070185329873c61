# syntax=docker/dockerfile:1
# The Sovereign Stack operator image. Node 24 strips TypeScript types itself for files outside
# node_modules, so the image runs the .ts sources as `npm start` does: no build step, and a
# stack trace points at the lines in the repository.
#
#   docker build -t ghcr.io/sovereign-stack/operator:0.1.0 .
#   docker run --rm ghcr.io/sovereign-stack/operator:0.1.0 node cmd/operator.ts --help
#
# Pin the base by digest for reproducible builds: --build-arg NODE_IMAGE=node:24-slim@sha256:...
ARG NODE_IMAGE=node:24-slim

# Production dependencies only, installed from the lockfile. Install scripts are not run: no
# runtime dependency needs one, and none gets to execute code at build time.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The web console's front end, bundled once at build time: esbuild and Preact are needed here
# only, at the versions of the lockfile, so the image carries the bundle and neither package.
FROM ${NODE_IMAGE} AS web
WORKDIR /app
RUN npm install --no-save --ignore-scripts --no-audit --no-fund esbuild@0.28.2 preact@11.2.0
COPY console/ ./console/
RUN node console/build-web.ts console/web/dist

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Everything stays owned by root and read-only to the operator's user: the process cannot
# change its own code, and the chart mounts the root filesystem read-only anyway.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
# What cmd/operator.ts, router/main.ts and console/server/main.ts import, and nothing else
# (no CLI commands, tests, charts or docs).
COPY crds/*.ts ./crds/
COPY cmd/ ./cmd/
COPY operator/ ./operator/
COPY controllers/ ./controllers/
# The InferenceService router runs from this image too (`node router/main.ts`).
COPY router/ ./router/
# So does the web console (`node console/server/main.ts`, chart value console.enabled): its
# server, the CLI's output code it shares with `stackctl describe`, and the bundled front end.
COPY console/server/ ./console/server/
COPY cli/output/ ./cli/output/
COPY --from=web /app/console/web/dist/ ./console/web/dist/
# The base image's unprivileged `node` user, by number so that Kubernetes' runAsNonRoot can
# verify it without reading /etc/passwd.
USER 1000:1000
# /metrics and /healthz, /readyz; the console's 8443.
EXPOSE 8080 8081 8443
# The operator handles SIGTERM itself (drains reconciles, releases its Lease), so node runs as
# PID 1 directly; it starts no child processes in a cluster, so nothing needs reaping.
CMD ["node", "cmd/operator.ts"]
