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
ENV NODE_ENV=production PORT=8080 DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER node
CMD ["node", "dist/main.js"]
