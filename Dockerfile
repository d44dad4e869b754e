# Dockerfile - redrafter on CPU. Stages:
#   build         node + compilers: the same `npm install` as a developer's (its postinstall checks
#                 Bun and builds native/ against node-llama-cpp's prebuilt llama.cpp)
#   llama-build   llama-server compiled from the llama.cpp source node-llama-cpp ships
#   llama-server  that binary and its libraries, no compiler (deploy/compose.yaml's llama-server)
#   runtime       the default target: the built app, its node_modules and libredrafter, no compiler
# scripts/docker-check.ts checks this file and replays the build -> runtime path without Docker.
#
#   docker build -t redrafter .
#   docker run --init -p 8080:8080 -v $PWD/models:/models redrafter                   # default model
#   docker run --init -p 8080:8080 -v $PWD/models:/models -v $PWD/drafters:/drafters \
#     -e REDRAFTER_MODEL=/models/target.gguf -e REDRAFTER_DRAFTER=/drafters/target.redrafter.gguf redrafter
#   docker run --rm redrafter serve --help         # any command: models, pull, generate, bench
#
# Volumes: /models holds target GGUFs, and is also the download cache (REDRAFTER_CACHE) of the
# default model fetched on first start when REDRAFTER_MODEL is unset; /drafters holds drafter
# GGUFs. Every `serve` flag has a REDRAFTER_* variable, or pass flags after `serve`.
# GET /health is the readiness probe: 503 while the model loads, fails to load or the server
# shuts down, 200 once it serves.

FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates cmake g++ git make \
 && rm -rf /var/lib/apt/lists/*
# node:20 images already have the unprivileged user "node" (uid 1000)
WORKDIR /app
RUN chown node:node /app
USER node
# `npm ci` split in two so the download layer survives source changes: fetch the packages
# (cached until the lockfile changes), then, with the sources present, run the install scripts
# `npm ci` would have run - the dependencies' (bun, node-llama-cpp), then ours.
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --chown=node:node . .
RUN npm rebuild && npm run postinstall
# The runtime loads one llama.cpp build, this platform's CPU one (scripts/llama-paths.js): the
# other prebuilt sets (CUDA, Vulkan, other CPUs; ~600 MB) stay out of the image.
RUN node --input-type=module -e ' \
      import { readdirSync, rmSync } from "node:fs"; \
      import { PLATFORM } from "./src/ffi/llama-paths.js"; \
      const dir = "node_modules/@node-llama-cpp"; \
      for (const d of readdirSync(dir)) if (d !== PLATFORM) rmSync(`${dir}/${d}`, { recursive: true });'

# scripts/build-llama.sh picks the CPU features of the machine that builds the image: run the
# image on CPUs that have at least those.
FROM build AS llama-build
RUN eval "$(scripts/build-llama.sh --server)" \
 && mkdir -p llama-bin \
 && cp -a "$LLAMA_BIN/llama-server" "$LLAMA_BIN"/*.so* llama-bin/

FROM debian:bookworm-slim AS llama-server
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --create-home llama
COPY --from=llama-build /app/llama-bin /opt/llama
# the build tree's RUNPATH does not exist here; ggml loads its backend modules from this folder
ENV LD_LIBRARY_PATH=/opt/llama
USER llama
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["/opt/llama/llama-server", "--host", "0.0.0.0", "--port", "8080"]

FROM node:20-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /models /drafters \
 && chown node:node /models /drafters
# Owned by root, read-only to the server: it writes only to /models, /drafters and its home.
# /app is the build stage's path too, which libredrafter's RUNPATH (the llama.cpp libraries
# under node_modules) names.
WORKDIR /app
COPY --from=build /app/package.json /app/bunfig.toml ./
COPY --from=build /app/bin ./bin
COPY --from=build /app/scripts ./scripts
COPY --from=build /app/src ./src
COPY --from=build /app/routes ./routes
COPY --from=build /app/drafters ./drafters
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/native/build/libredrafter.so ./native/build/
USER node

# The server checks the Host header against names it knows (DNS-rebinding defence); in a
# container it listens on 0.0.0.0 and is reached by service or host names we cannot know here,
# so any is accepted. Set REDRAFTER_ALLOWED_HOST to the names you serve under to narrow it.
ENV REDRAFTER_CACHE=/models \
    REDRAFTER_HOST=0.0.0.0 \
    REDRAFTER_PORT=8080 \
    REDRAFTER_ALLOWED_HOST=*
VOLUME ["/models", "/drafters"]

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health || exit 1
# bin/redrafter.js forwards signals to Bun; `--init` (compose: init: true) reaps as PID 1.
ENTRYPOINT ["node", "bin/redrafter.js"]
CMD ["serve"]
