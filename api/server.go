package api

import (
	"net/http"
	"time"
)

// MaxWait is the longest long-poll a client may ask for (?wait=, SPEC §10).
const MaxWait = 60 * time.Second

// Server limits (SPEC §4): a client that sends its headers or body slowly, or keeps an idle connection open,
// is cut off instead of holding a socket; a response may take as long as the longest long-poll plus a margin.
const (
	HeaderReadTimeout = 10 * time.Second
	BodyReadTimeout   = 30 * time.Second
	IdleTimeout       = 60 * time.Second
	WriteTimeout      = MaxWait + 10*time.Second
	MaxHeaderBytes    = 64 << 10
)

// NewServer returns an HTTP server for handler on addr with the limits above. The API, the worker's own
// listener and the debug listener all use it.
func NewServer(addr string, handler http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: HeaderReadTimeout,
		ReadTimeout:       BodyReadTimeout, // headers and body together
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}
