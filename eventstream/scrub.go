package eventstream

import "strings"

// filtered replaces a scrubbed value, as in Sentry.
const filtered = "[Filtered]"

// sensitiveKeys are the key fragments of Sentry's default data scrubbing: a value under a key containing one
// of them, in any case, is replaced.
var sensitiveKeys = []string{"password", "secret", "passwd", "api_key", "apikey", "auth", "credentials",
	"mysql_pwd", "privatekey", "private_key", "token", "session"}

// scrub replaces, in place and at any depth, every non-null value under a sensitive key. The marker it leaves
// is the record of the change: an error entry would only repeat where a secret was.
func scrub(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if val != nil && sensitive(k) {
				x[k] = filtered
				continue
			}
			scrub(val)
		}
	case []any:
		for _, val := range x {
			scrub(val)
		}
	}
}

func sensitive(key string) bool {
	key = strings.ToLower(key)
	for _, s := range sensitiveKeys {
		if strings.Contains(key, s) {
			return true
		}
	}
	return false
}
