package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
)

// Shortest secrets serve and run accept (SPEC §4).
const (
	minTokenLength    = 16
	minPasswordLength = 12
)

// placeholders are words that sample configurations use in place of a secret; a secret made of nothing but
// these (change-me, secretsecret…, admin123…) is refused however long it is.
var placeholders = []string{
	"changeme", "change", "replace", "replaceme", "example", "secret", "password", "passwd", "token", "admin",
	"default", "test", "dev", "demo", "ssosetup", "insecure", "xxx", "todo", "letmein", "qwerty", "root",
	"user", "operator", "ops", "api", "me", "my", "your", "here", "please",
}

// checkAccess refuses to serve with weak credentials and returns the configuration to serve with: without
// an API token only under --insecure-dev, which then listens on loopback alone and says so loudly.
func checkAccess(cfg config, f serveFlags, log *slog.Logger) (config, error) {
	if why := weakSecret(cfg.APIToken, minTokenLength); cfg.APIToken != "" && why != "" {
		return cfg, fmt.Errorf("SSOSETUP_API_TOKEN is %s: use a random one, e.g. `openssl rand -hex 16`", why)
	}
	if why := weakSecret(cfg.DashboardPassword, minPasswordLength); cfg.DashboardPassword != "" && why != "" {
		return cfg, fmt.Errorf("SSOSETUP_DASHBOARD_PASSWORD is %s: use a random one, e.g. `openssl rand -base64 18`", why)
	}
	if cfg.APIToken != "" {
		return cfg, nil
	}
	if !f.insecureDev {
		return cfg, errors.New("SSOSETUP_API_TOKEN is not set: set it, or pass --insecure-dev to serve the API without authentication on loopback")
	}
	addr, err := loopbackOnly(cfg.Listen)
	if err != nil {
		return cfg, fmt.Errorf("SSOSETUP_LISTEN with --insecure-dev: %w", err)
	}
	cfg.Listen = addr
	log.Warn("INSECURE: the API accepts requests without a token (--insecure-dev), on loopback only; never run this in production",
		"addr", addr)
	return cfg, nil
}

// weakSecret says why s is too weak to guard access ("" when it is not): too short, too few distinct
// characters, or made of placeholder words and digits.
func weakSecret(s string, minLength int) string {
	if len(s) < minLength {
		return fmt.Sprintf("shorter than %d characters", minLength)
	}
	distinct := map[rune]bool{}
	for _, r := range s {
		distinct[r] = true
	}
	if len(distinct) < 6 {
		return "made of too few distinct characters"
	}
	rest := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		default:
			return -1 // digits and punctuation do not make a placeholder strong
		}
	}, s)
	if rest == "" {
		return "" // no letters at all: length and variety decide
	}
	for changed := true; changed && rest != ""; {
		changed = false
		for _, w := range placeholders {
			if strings.HasPrefix(rest, w) {
				rest, changed = rest[len(w):], true
			}
		}
	}
	if rest == "" {
		return "a placeholder"
	}
	return ""
}

// loopbackOnly returns addr with its host made loopback when it names none (":8080" listens on every
// interface), and refuses an address on another interface.
func loopbackOnly(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", addr)
	}
	switch {
	case host == "" || host == "0.0.0.0" || host == "::":
		return net.JoinHostPort("127.0.0.1", port), nil
	case isLoopback(host):
		return addr, nil
	}
	return "", fmt.Errorf("%q is not a loopback address", addr)
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
