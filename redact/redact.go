// Package redact hides secret values in JSON-like data before it reaches a log, an API response or the audit
// log (SPEC §4): any value whose key contains secret, password, private, token, key, passwd, passphrase,
// credential, authorization or cookie becomes "[redacted]".
package redact

import "strings"

// Placeholder replaces every secret value.
const Placeholder = "[redacted]"

var secretWords = []string{
	"secret", "password", "private", "token", "key", "passwd", "passphrase", "credential", "authorization", "cookie",
}

// IsSecretKey reports whether a value under this key must be hidden.
func IsSecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// Value returns a copy of v (as decoded by encoding/json) with secret values replaced, at any depth. v itself
// is not modified.
func Value(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return Map(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = Value(e)
		}
		return out
	default:
		return v
	}
}

// Map is Value for an object; a nil map stays nil.
func Map(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		if IsSecretKey(k) {
			out[k] = Placeholder
		} else {
			out[k] = Value(e)
		}
	}
	return out
}

// HasSecretKeys reports whether v (as decoded by encoding/json) holds a value under a secret key, at any
// depth: a secret, or the placeholder that replaced one.
func HasSecretKeys(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if IsSecretKey(k) || HasSecretKeys(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if HasSecretKeys(e) {
				return true
			}
		}
	}
	return false
}
