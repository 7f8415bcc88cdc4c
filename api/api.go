// Package api is the HTTP API of SPEC §5: a thin layer over the enqueue package and the store, plus the
// probes, the metrics endpoint and the dashboard mount.
package api

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/postgres"
	"github.com/ssosetup/ssosetup/tracing"
)

// OpenAPI is the API's OpenAPI 3 document, served at /v1/openapi.json; the tests hold every response to it.
//
//go:embed openapi.json
var OpenAPI []byte

// MaxBodyBytes is the largest request body accepted (SPEC §4); larger ones get 413.
const MaxBodyBytes = 256 << 10

// Check is a readiness check of one dependency.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Config configures the API.
type Config struct {
	Submitter *enqueue.Submitter
	Store     *postgres.Store
	Logger    *slog.Logger
	// Token is the bearer token of /v1; empty means no authentication (serve --insecure-dev only).
	Token     string
	Readiness []Check
	Metrics   http.Handler // served at /metrics when set
	Dashboard http.Handler // served at /monitoring/ when set, behind basic auth
	Console   http.Handler // the operator console, served at /console/ when set, behind the same basic auth
	// DashboardUser and DashboardPassword guard the dashboard.
	DashboardUser, DashboardPassword string
	// Inspector and CancelJob, when set, cancel the job of every stage task an operator deletes or archives
	// in the dashboard (SPEC §4), when the task belongs to the job's current run.
	Inspector *asynq.Inspector
	CancelJob func(ctx context.Context, setupID uuid.UUID, run int) error
	// Notifier wakes long-polls (?wait=) when their job or batch finishes; without one they look every second.
	Notifier *postgres.Notifier
}

// Handler returns the API's routes.
func Handler(cfg Config) http.Handler {
	s := &server{cfg: cfg, log: cfg.Logger, ready: newReadiness(cfg.Readiness, cfg.Logger)}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/setups", s.bearer(http.HandlerFunc(s.createSetup)))
	mux.Handle("POST /v1/setups/batch", s.bearer(http.HandlerFunc(s.createBatch)))
	mux.Handle("GET /v1/setups", s.bearer(http.HandlerFunc(s.listSetups)))
	mux.Handle("GET /v1/setups/{id}", s.bearer(http.HandlerFunc(s.getSetup)))
	mux.Handle("POST /v1/setups/{id}/cancel", s.bearer(http.HandlerFunc(s.cancelSetup)))
	mux.Handle("POST /v1/setups/{id}/retry", s.bearer(http.HandlerFunc(s.retrySetup)))
	mux.Handle("GET /v1/openapi.json", s.bearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeRawJSON(w, http.StatusOK, OpenAPI)
	})))
	mux.Handle("GET /v1/webhook-deliveries", s.bearer(http.HandlerFunc(s.listWebhookDeliveries)))
	mux.Handle("GET /v1/batches/{id}", s.bearer(http.HandlerFunc(s.getBatch)))
	mux.Handle("POST /v1/batches/{id}/cancel", s.bearer(http.HandlerFunc(s.cancelBatch)))
	mux.Handle("POST /v1/batches/{id}/retry", s.bearer(http.HandlerFunc(s.retryBatch)))
	mux.Handle("/v1/", s.bearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path, nil)
	})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.ready.serveHTTP)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	if cfg.Dashboard != nil {
		mux.Handle("/monitoring/", s.basicAuth(sameOrigin(s.cancelOnRemoval(cfg.Dashboard))))
	}
	if cfg.Console != nil {
		mux.Handle("/console/", s.basicAuth(sameOrigin(cfg.Console)))
	}
	return mux
}

func (s *server) notifier() subscriber {
	if s.cfg.Notifier == nil {
		return everySecond{}
	}
	return s.cfg.Notifier
}

type server struct {
	cfg   Config
	log   *slog.Logger
	ready *readiness
}

// bearer requires "Authorization: Bearer <token>", compared in constant time.
func (s *server) bearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="ssosetup"`)
				writeError(w, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required", nil)
				return
			}
		}
		// The request's span (when tracing is on) is named after its route, known only once routed.
		trace.SpanFromContext(r.Context()).SetName(r.Method + " " + r.Pattern)
		next.ServeHTTP(w, r)
	})
}

// Traced wraps the API in a span per /v1 request that continues the caller's trace (W3C traceparent), when
// tracing is on (SPEC §13); h itself when it is off.
func Traced(h http.Handler) http.Handler {
	if !tracing.Enabled() {
		return h
	}
	return otelhttp.NewHandler(h, "ssosetup api",
		otelhttp.WithFilter(func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/v1/") }))
}

// basicAuth guards the dashboard; both names are compared in constant time.
func (s *server) basicAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.DashboardUser)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.DashboardPassword)) == 1
		if !ok || !userOK || !passOK {
			w.Header().Set("WWW-Authenticate", `Basic realm="ssosetup dashboard"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "dashboard credentials required", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeError writes the error document of SPEC §5.
func writeError(w http.ResponseWriter, status int, code, message string, fields map[string]string) {
	body := map[string]any{"code": code, "message": message}
	if len(fields) > 0 {
		body["fields"] = fields
	}
	writeJSON(w, status, map[string]any{"error": body})
}

// writeRawJSON writes a document Postgres rendered.
func writeRawJSON(w http.ResponseWriter, status int, doc []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(doc)
	_, _ = w.Write([]byte("\n"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
