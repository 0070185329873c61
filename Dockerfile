# syntax=docker/dockerfile:1
# The Sovereign Stack operator image. It runs the JavaScript that tsconfig.image.json compiles
# from the same sources `npm start` runs: Node 24 could strip the types at run time, but its
# stripper (a WebAssembly module) and its memory would then stay resident in every operator and
# router process, some 30 MB each (bench/operator-memory.ts).
#
#   docker build -t ghcr.io/sovereign-stack/operator:0.1.0 .
#   docker run --rm ghcr.io/sovereign-stack/operator:0.1.0 node dist/cmd/operator.js --help
#
# Pin the base by digest for reproducible builds: --build-arg NODE_IMAGE=node:24-slim@sha256:...
ARG NODE_IMAGE=node:24-slim

# Production dependencies only, installed from the lockfile. Install scripts are not run: no
# runtime dependency needs one, and none gets to execute code at build time.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The compiled entry points and what they import, and the web console's front end bundled;
# the compiler and the bundler (esbuild, Preact) come from the lockfile and stay in this stage.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --include=dev
COPY tsconfig.json tsconfig.image.json ./
COPY crds/*.ts ./crds/
COPY crds/runtime/*.ts ./crds/runtime/
COPY cmd/ ./cmd/
COPY operator/ ./operator/
COPY controllers/ ./controllers/
COPY router/ ./router/
COPY console/ ./console/
COPY cli/output/ ./cli/output/
RUN node node_modules/typescript/bin/tsc -p tsconfig.image.json \
  && node console/build-web.ts dist/console/web

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Everything stays owned by root and read-only to the operator's user: the process cannot
# change its own code, and the chart mounts the root filesystem read-only anyway.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
# What cmd/operator.ts, router/main.ts and console/server/main.ts import, compiled, and nothing
# else (no CLI commands, tests, charts or docs). The InferenceService router runs from this image
# too (`node dist/router/main.js`), and so does the web console (`node dist/console/server/main.js`,
# chart value console.enabled) with its bundled front end beside it.
COPY --from=build /app/dist/ ./dist/
# The base image's unprivileged `node` user, by number so that Kubernetes' runAsNonRoot can
# verify it without reading /etc/passwd.
USER 1000:1000
# /metrics and /healthz, /readyz; the console's 8443.
EXPOSE 8080 8081 8443
# The operator handles SIGTERM itself (drains reconciles, releases its Lease), so node runs as
# PID 1 directly; it starts no child processes in a cluster, so nothing needs reaping.
CMD ["node", "dist/cmd/operator.js"]
