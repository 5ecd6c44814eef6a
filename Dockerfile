# rbd-rest-api container image.
#
#   buildah bud --layers -t rbd-rest-api:dev .      (or: docker build -t rbd-rest-api:dev .)
#   scripts/image-build.sh                         (the same with this machine's settings)
#
# Base images are build arguments so a mirror or a pinned digest can be used without editing this
# file, e.g. --build-arg RUNTIME_IMAGE=registry.example.com/mirror/debian:forky-slim@sha256:...
# Node 24 is the LTS line (Node 20 reached end-of-life on 2026-04-30); the service also runs on Node >= 20.12.
# The runtime is Debian forky (testing) for its Ceph 20.2 (Tentacle) client libraries, the current release;
# the same build runs on librbd 16 to 20 (RUNTIME_IMAGE=debian:bookworm-slim gives Ceph 16.2 Pacific's):
# optional librbd functions are probed at start and reported by GET /api/v1/cluster.
ARG NODE_IMAGE=node:24-bookworm
ARG RUNTIME_IMAGE=debian:forky-slim

# ---- build: compile TypeScript, then keep only the production dependencies -------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV CI=true \
    NPM_CONFIG_AUDIT=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false
# dependencies first: this layer is reused until package.json or the lock file changes.
# koffi ships prebuilt binaries in its npm package; no install scripts or compiler are needed.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && test -f dist/main.js

# ---- runtime: Debian forky + Ceph 20.2 librados/librbd, the build stage's Node 24, tini as PID 1, non-root ----
FROM ${RUNTIME_IMAGE} AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# librados2/librbd1 come from the runtime image's own Debian repositories (forky: Ceph 20.2.4 Tentacle); the
# service loads librados.so.2 and librbd.so.1 through koffi.
RUN apt-get update \
 && apt-get install -y --no-install-recommends librados2 librbd1 tini \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt/* /var/log/dpkg.log \
 && groupadd --system --gid 10001 rbdapi \
 && useradd --system --uid 10001 --gid 10001 --no-log-init --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin rbdapi \
 && mkdir -p /etc/ceph
# Node itself: the official binary of the build stage (it links only glibc and libstdc++, which the runtime has); no npm
COPY --from=build /usr/local/bin/node /usr/local/bin/node

WORKDIR /app
# owned by root and read-only for the service user
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist

# nothing is written outside /tmp: the image runs with a read-only root filesystem
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    TMPDIR=/tmp
USER 10001:10001
EXPOSE 8080
# for docker/podman; Kubernetes uses the Deployment's probes instead
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini reaps zombies and forwards SIGTERM to node, which drains requests and closes the Ceph session
ENTRYPOINT ["/usr/bin/tini", "--"]
# a 4 MiB young generation: RSS ~25 MiB lower, the same throughput (docs/benchmarks.md).
# dist/threadpool.cjs sizes libuv's threadpool from CEPH_CONCURRENCY + CEPH_LONG_CONCURRENCY (20 by default)
# unless UV_THREADPOOL_SIZE is set: it must run before the ES module loader first uses the pool.
CMD ["node", "--max-semi-space-size=4", "--require", "./dist/threadpool.cjs", "dist/main.js"]

LABEL org.opencontainers.image.title="rbd-rest-api" \
      org.opencontainers.image.description="REST API for Ceph RBD pools and images (librados/librbd via koffi)"
