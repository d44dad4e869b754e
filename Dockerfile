# Dockerfile - the gateway on CPU: the same `npm install` as a developer's (its postinstall
# checks Bun and builds native/ against node-llama-cpp's prebuilt llama.cpp), run as a
# non-root user.
#
#   docker build -t redrafter .
#   docker run --init -p 8080:8080 -v $PWD/models:/models -v $PWD/drafters:/drafters \
#     -e REDRAFTER_MODEL=/models/target.gguf -e REDRAFTER_DRAFTER=/drafters/target.redrafter.gguf redrafter
#
# Volumes: /models holds target GGUFs, and is also the download cache (REDRAFTER_CACHE) of the
# default model fetched on first start when REDRAFTER_MODEL is unset; /drafters holds drafter
# GGUFs. Every `serve` flag has a REDRAFTER_* variable (`docker run ... redrafter npm start --
# --help`), or override CMD with flags. `--init` gives npm (PID 1) a signal-forwarding parent.
FROM node:20-bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates cmake curl g++ git make python3 python3-pip python3-venv \
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

# The server checks the Host header against names it knows (DNS-rebinding defence); in a
# container it listens on 0.0.0.0 and is reached by service or host names we cannot know here,
# so any is accepted. Set REDRAFTER_ALLOWED_HOST to the names you serve under to narrow it.
ENV REDRAFTER_CACHE=/models \
    REDRAFTER_PORT=8080 \
    REDRAFTER_ALLOWED_HOST=*
USER root
RUN mkdir -p /models /drafters && chown node:node /models /drafters
USER node
VOLUME ["/models", "/drafters"]

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health || exit 1
CMD ["npm", "start", "--", "--host", "0.0.0.0"]
