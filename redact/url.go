package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// keywordSecret matches a secret-looking setting of a keyword/value connection string.
var keywordSecret = regexp.MustCompile(`(?i)(\w*(?:password|passwd|pwd|secret|token|key)\w*)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// URL returns raw with its password, and the values of query parameters whose names look secret
// (password, token, …: IsSecretKey), replaced, so that a connection URL can go into a log line or an error.
// A URL that does not parse keeps only its scheme when it may hold credentials.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err == nil && u.Scheme == "" {
		// A keyword/value connection string (host=db password=…), which pgx accepts too.
		return keywordSecret.ReplaceAllString(raw, "${1}=xxxxx")
	}
	if err != nil {
		if !strings.ContainsAny(raw, "@?") {
			return raw
		}
		if i := strings.Index(raw, "://"); i > 0 {
			return raw[:i] + "://…"
		}
		return "…"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = "…"
		} else {
			for k := range q {
				if IsSecretKey(k) || k == "pass" || k == "pwd" {
					q.Set(k, "xxxxx")
				}
			}
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}
