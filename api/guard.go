package api

import (
	"net/http"
)

// sameOrigin refuses state-changing requests (anything but GET, HEAD and OPTIONS) that a browser did not send
// from this origin, so that a page elsewhere cannot make an operator's browser act on the dashboard or the
// console with the operator's basic-auth credentials (SPEC §4). Go's CrossOriginProtection compares
// Sec-Fetch-Site, or else Origin with Host; it lets a request without either header through as a
// non-browser client, which SPEC does not: such a request is refused here too, since every browser that
// can carry an operator's credentials sends one of them.
func sameOrigin(next http.Handler) http.Handler {
	deny := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusForbidden, "forbidden",
			"cross-origin request refused: state-changing requests must come from this origin", nil)
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(deny)
	protected := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions
		if !safe && r.Header.Get("Sec-Fetch-Site") == "" && r.Header.Get("Origin") == "" {
			deny(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	})
}
