package eventstream

import (
	"regexp"
	"sort"
	"strconv"
	"unicode/utf8"
)

var tagKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9_.:-]+$`)

// reservedTags are keys Sentry keeps for itself; a raw tag under one is removed.
var reservedTags = map[string]bool{"release": true, "dist": true, "user": true, "filename": true, "function": true}

// tags accepts an object or a list of [key, value] pairs and returns the valid pairs; the last value of a
// repeated key wins.
func tags(v any, errs *[]EventError) [][2]string {
	var pairs [][2]any
	switch t := v.(type) {
	case nil:
	case map[string]any:
		for k, val := range t {
			pairs = append(pairs, [2]any{k, val})
		}
		sort.Slice(pairs, func(a, b int) bool { return pairs[a][0].(string) < pairs[b][0].(string) })
	case []any:
		for _, p := range t {
			if kv, ok := p.([]any); ok && len(kv) == 2 {
				pairs = append(pairs, [2]any{kv[0], kv[1]})
			} else {
				addError(errs, "invalid_data", "tags", p)
			}
		}
	default:
		addError(errs, "invalid_data", "tags", v)
	}
	set := map[string]string{}
	for _, p := range pairs {
		k, kok := p[0].(string)
		val, vok := tagValue(p[1])
		if !kok || !vok || len(k) > maxTagKey || !tagKeyPattern.MatchString(k) {
			addError(errs, "invalid_data", "tags", []any{p[0], p[1]})
			continue
		}
		set[k] = val
	}
	return sortedTags(set)
}

func tagValue(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		s = strconv.FormatBool(x)
	default:
		return "", false
	}
	ok := s != "" && utf8.ValidString(s) && utf8.RuneCountInString(s) <= maxTagValue && !hasControl(s)
	return s, ok
}

// finalTags removes the raw tags under reserved keys and sets the tags the worker derives from the event's
// fields, as Sentry's save does: level; sentry:release with a release; environment with an environment (a
// raw environment tag stays otherwise); logger with a logger; sentry:user from the user. Each raw tag removed
// or overwritten with another value is recorded; one the worker sets to the same value is no change, which is
// also what makes normalizing a normalized event change nothing.
func finalTags(n normalized, errs *[]EventError) [][2]string {
	derived := map[string]string{"level": n.Level, "sentry:release": n.Release, "logger": n.Logger,
		"sentry:user": sentryUser(n.User)}
	if n.Environment != "" {
		derived["environment"] = n.Environment
	}
	set := map[string]string{}
	for _, t := range n.Tags {
		want, isDerived := derived[t[0]]
		switch {
		case reservedTags[t[0]] || isDerived && want != t[1]:
			addError(errs, "invalid_data", "tags", []any{t[0], t[1]})
		default:
			set[t[0]] = t[1]
		}
	}
	for k, v := range derived {
		if v != "" {
			set[k] = v
		}
	}
	return sortedTags(set)
}

// sentryUser is the sentry:user tag: the first of the user's id, username, e-mail and IP address, or "" when
// it has none that is a valid tag value.
func sentryUser(u map[string]any) string {
	for _, f := range [][2]string{{"id", "id:"}, {"username", "username:"}, {"email", "email:"}, {"ip_address", "ip:"}} {
		if s, _ := u[f[0]].(string); s != "" {
			if v, ok := tagValue(f[1] + s); ok {
				return v
			}
			return ""
		}
	}
	return ""
}

func sortedTags(set map[string]string) [][2]string {
	out := make([][2]string, 0, len(set))
	for k, v := range set {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(a, b int) bool { return out[a][0] < out[b][0] })
	return out
}
