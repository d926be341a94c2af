# Touchpoint: a static binary on a minimal non-root image, data in one volume.
#   docker build -t touchpoint .
#   docker run -p 8080:8080 -p 2525:2525 -v touchpoint-data:/data touchpoint
# Admin commands reach the running daemon through its control socket:
#   docker exec CONTAINER touchpoint token create --name ci --role admin
# docker stop waits 10 s before SIGKILL; the daemon may take up to
# http.shutdown_timeout (30 s) to finish work in flight: run it with
# --stop-timeout 45 (or docker stop -t 45). See docs/OPERATIONS.md.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/touchpoint ./cmd/touchpoint \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/touchpoint /usr/local/bin/touchpoint
COPY --from=build --chown=65532:65532 /out/data /data
ENV TOUCHPOINT_DATA_DIR=/data \
    TOUCHPOINT_HTTP_ADDR=0.0.0.0:8080 \
    TOUCHPOINT_SMTP_ADDR=0.0.0.0:2525
VOLUME ["/data"]
EXPOSE 8080 2525
USER 65532:65532
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/touchpoint"]
CMD ["serve"]
