# Parley has no runtime dependencies: the build stage needs the dev tools (TypeScript), the runtime
# image needs only Node and the compiled files.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json tsconfig.web.json ./
COPY scripts ./scripts
COPY protocol ./protocol
COPY server ./server
COPY console-client ./console-client
COPY web-client ./web-client
COPY bench ./bench
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PARLEY_HOST=0.0.0.0 \
    PARLEY_DATA_DIR=/data
WORKDIR /app
COPY package.json ./
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 9000 8080
# TLS: mount a certificate and key and point PARLEY_TLS_CERT and PARLEY_TLS_KEY at them (see
# docker-compose.yaml); the HTTP port then speaks HTTPS, so the probe follows PARLEY_TLS_CERT. It does
# not check the certificate: it talks to this container over loopback, where nobody can be in between.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require(process.env.PARLEY_TLS_CERT ? 'node:https' : 'node:http').get({ host: '127.0.0.1', port: process.env.PARLEY_HTTP_PORT || 8080, path: '/healthz', rejectUnauthorized: false, timeout: 2500 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/server/main.js"]
