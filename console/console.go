// Package console is the operator console of SPEC §12: server-rendered pages of jobs and batches, with
// Cancel and Retry where SPEC §10 allows them. It works without JavaScript; its stylesheet is Simple.css,
// vendored with its licence into the embedded assets. The API mounts it at /console/ behind the dashboard's
// basic auth and same-origin check; its forms also carry a CSRF token (a double-submit cookie).
package console

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ssosetup/ssosetup/enqueue"
	"github.com/ssosetup/ssosetup/storage/postgres"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Config configures the console.
type Config struct {
	Store     *postgres.Store
	Submitter *enqueue.Submitter
	Logger    *slog.Logger
	// ReadOnly hides Cancel and Retry and refuses them (SSOSETUP_DASHBOARD_READONLY).
	ReadOnly bool
	// Dashboard is where Asynqmon is mounted, for links to a job's task ("/monitoring"); "" for none.
	Dashboard string
	// TraceURL links a job to its trace in a trace viewer: "{trace_id}" in it is replaced by the job's
	// (SSOSETUP_TRACE_URL, e.g. http://localhost:16686/trace/{trace_id}); "" for no link.
	TraceURL string
}

// Handler returns the console's routes, under /console/.
func Handler(cfg Config) http.Handler {
	c := &console{cfg: cfg, log: cfg.Logger, pages: parseTemplates()}
	assets, _ := fs.Sub(assetFS, "assets") // embedded: cannot fail
	mux := http.NewServeMux()
	mux.Handle("GET /console/assets/", http.StripPrefix("/console/assets/", cacheFor(time.Hour, http.FileServerFS(assets))))
	mux.HandleFunc("GET /console/{$}", c.listPage)
	mux.HandleFunc("GET /console/setups/{id}", c.jobPage)
	mux.HandleFunc("GET /console/batches/{id}", c.batchPage)
	mux.HandleFunc("POST /console/setups/{id}/{action}", c.act)
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "message", pageData{Title: "Not found", Message: "There is no such page."})
	})
	return securityHeaders(mux)
}

type console struct {
	cfg   Config
	log   *slog.Logger
	pages map[string]*template.Template

	countsMu sync.Mutex
	counts   map[string]int
	countsAt time.Time
	counting bool // a refresh of counts is under way
}

// csrfCookie holds the CSRF token each form repeats: a cross-site page can neither read it nor set it.
const csrfCookie = "ssosetup_csrf"

// csrfToken returns the request's token, setting a new one when it has none.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		if _, err := hex.DecodeString(c.Value); err == nil {
			return c.Value
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand does not fail
	token := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: token, Path: "/console/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return token
}

// validCSRF reports whether a form's token matches its cookie.
func validCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	form := r.PostFormValue("csrf")
	return err == nil && len(c.Value) == 32 && subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) == 1
}

// securityHeaders keep the pages out of frames and other sites' scripts.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// cacheFor lets browsers keep the stylesheets (the pages themselves are never cached).
func cacheFor(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age="+strconv.Itoa(int(d.Seconds())))
		next.ServeHTTP(w, r)
	})
}
