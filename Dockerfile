# Wasmlet's own image: `wasmlet serve`, for a container runtime or Kubernetes (deploy/kubernetes/).
#   docker build -t wasmlet .
#   docker run -p 8080:8080 -p 8081:8081 -v "$PWD/token:/etc/wasmlet/token:ro" wasmlet
# Probes: GET /livez (liveness), GET /readyz (readiness; 503 from SIGTERM on) on either port, no token needed.
# On SIGTERM the server drains (--drain-timeout, 25 s) and exits 0: give the container a longer stop timeout.

# Build stage: every dependency (tsc, node-gyp for the optional malloc addon and better-sqlite3), then only the
# production ones are kept.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/build-native.mjs scripts/
COPY binding.gyp ./
COPY native/ native/
# `prepare` compiles TypeScript, so the sources come first; the install scripts build the native addons.
COPY tsconfig.json ./
COPY src/ src/
COPY bin/ bin/
COPY examples/ examples/
RUN npm ci && npm run build && npm prune --omit=dev

# Runtime stage: node, tini as PID 1 (forwards SIGTERM to node and reaps the builders' child processes), the app.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/wasmlet /etc/wasmlet \
 && chown 1000:1000 /var/lib/wasmlet
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
COPY --from=build /app/build/Release/ build/Release/
COPY --from=build /app/bin/ bin/
COPY --from=build /app/src/ui/static/ src/ui/static/
COPY --from=build /app/examples/ examples/
RUN ln -s /app/bin/wasmlet.js /usr/local/bin/wasmlet
ENV NODE_ENV=production
# The image's user `node` (uid 1000), numeric so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
VOLUME ["/var/lib/wasmlet"]
# 8080: the router (functions); 8081: the control API, the embedded registry (/v2) and /metrics.
EXPOSE 8080 8081
STOPSIGNAL SIGTERM
# For `docker run` (one process, both ports); Kubernetes ignores it and uses the probes of deploy/kubernetes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "wasmlet", "serve"]
# The control port listens beyond loopback, so it needs a token: mount one at /etc/wasmlet/token.
CMD ["--listen", "0.0.0.0:8080", "--control", "0.0.0.0:8081", "--token-file", "/etc/wasmlet/token", "--data-dir", "/var/lib/wasmlet"]
