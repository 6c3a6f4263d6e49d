# The engine's image (used by docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY mappings ./mappings
COPY schemas ./schemas
COPY dictionaries ./dictionaries
# npm ci compiles TypeScript (prepare script); dev dependencies are dropped afterwards.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev && npm cache clean --force
# The engine runs as its own unprivileged user with a fixed uid/gid (10001), so volume ownership and a
# runAsUser/fsGroup policy can name it. /data exists and belongs to that user BEFORE the VOLUME line: a fresh named
# volume is initialised from the image's directory and so is writable by the engine on the first start.
RUN groupadd --system --gid 10001 engine \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin engine \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0750 /data
ENV NODE_ENV=production PORT=8080 DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001
# Ready = the database answers (GET /readyz); fetch is built into Node 20.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/main.js"]
