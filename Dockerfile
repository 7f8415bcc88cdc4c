# Multi-stage build: a static binary on a distroless base (no shell, non-root).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ssosetup ./cmd/ssosetup

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ssosetup /usr/local/bin/ssosetup
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ssosetup"]
CMD ["run"]
