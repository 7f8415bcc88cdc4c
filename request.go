package ssosetup

import (
	"encoding/json"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/ssosetup/ssosetup/redact"
)

// Request is what a web tier submits to start a job (SPEC §5). Provider config and identity data may hold
// secrets: a Request is stored in Postgres only, never put into a task payload.
type Request struct {
	Flow             string          `json:"flow,omitempty"`
	OrganizationID   int64           `json:"organization_id,omitempty"`
	OrganizationSlug string          `json:"organization_slug,omitempty"`
	UserID           int64           `json:"user_id"`
	Authenticated    bool            `json:"authenticated"`
	PipelineUserID   int64           `json:"pipeline_user_id"`
	Provider         *Provider       `json:"provider,omitempty"`
	Identity         Identity        `json:"identity"`
	Invite           *Invite         `json:"invite,omitempty"`
	IPAddress        string          `json:"ip_address,omitempty"`
	Referrer         string          `json:"referrer,omitempty"`
	Event            json.RawMessage `json:"event,omitempty"`
}

// Provider names the identity provider and carries the configuration its setup built.
type Provider struct {
	Key    string         `json:"key"`
	Config map[string]any `json:"config,omitempty"`
}

// Identity is what the identity provider returned about the user.
type Identity struct {
	ID    string         `json:"id"`
	Email string         `json:"email,omitempty"`
	Name  string         `json:"name,omitempty"`
	Data  map[string]any `json:"data,omitempty"`
}

// Invite is the invite the user arrived with, if any.
type Invite struct {
	MemberID int64  `json:"member_id"`
	Token    string `json:"token"`
}

// FieldErrors maps a JSON path ("provider.key") to what is wrong with it.
type FieldErrors map[string]string

func (f FieldErrors) Error() string {
	var b strings.Builder
	b.WriteString("invalid request:")
	for k, v := range f {
		b.WriteString(" " + k + ": " + v + ";")
	}
	return strings.TrimSuffix(b.String(), ";")
}

const (
	maxShortText = 200
	maxIdentText = 512
)

// Normalize fills defaults (flow "setup") and checks the request's shape. Existence checks (organization,
// user, membership) are the start stage's, so that they show as a failed job rather than an HTTP error.
func (r *Request) Normalize() error {
	errs := FieldErrors{}
	if r.Flow == "" {
		r.Flow = FlowSetup
	}
	if r.Flow != FlowSetup && r.Flow != FlowLink {
		errs["flow"] = `must be "setup" or "link"`
	}
	switch {
	case r.OrganizationID < 0:
		errs["organization_id"] = "must be a positive id"
	case r.OrganizationID == 0 && r.OrganizationSlug == "":
		errs["organization_id"] = "organization_id or organization_slug is required"
	case r.OrganizationID != 0 && r.OrganizationSlug != "":
		errs["organization_slug"] = "give organization_id or organization_slug, not both"
	}
	checkText(errs, "organization_slug", r.OrganizationSlug, maxShortText)
	if r.UserID <= 0 {
		errs["user_id"] = "must be a positive id"
	}
	if r.PipelineUserID < 0 {
		errs["pipeline_user_id"] = "must be a positive id"
	}
	if r.Flow == FlowSetup && (r.Provider == nil || r.Provider.Key == "") {
		errs["provider.key"] = "is required for the setup flow"
	}
	if r.Provider != nil {
		checkText(errs, "provider.key", r.Provider.Key, maxShortText)
	}
	checkText(errs, "identity.id", r.Identity.ID, maxIdentText)
	checkText(errs, "identity.email", r.Identity.Email, maxIdentText)
	checkText(errs, "identity.name", r.Identity.Name, maxIdentText)
	if r.Invite != nil {
		if r.Invite.MemberID < 0 {
			errs["invite.member_id"] = "must be a positive id"
		}
		checkText(errs, "invite.token", r.Invite.Token, maxIdentText)
	}
	if r.IPAddress != "" {
		if _, err := netip.ParseAddr(r.IPAddress); err != nil {
			errs["ip_address"] = "must be an IPv4 or IPv6 address"
		}
	}
	checkText(errs, "referrer", r.Referrer, maxShortText)
	if len(r.Event) > 0 && !isJSONObject(r.Event) {
		errs["event"] = "must be a JSON object"
	}
	// Postgres text and jsonb cannot hold NUL characters: refuse them here rather than fail on insert.
	for path, v := range map[string]any{"provider.config": providerConfig(r.Provider), "identity.data": r.Identity.Data} {
		if hasNUL(v) {
			errs[path] = "must not contain NUL characters"
		}
	}
	if strings.Contains(string(r.Event), `\u0000`) {
		errs["event"] = "must not contain NUL characters"
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func checkText(errs FieldErrors, path, s string, max int) {
	switch {
	case strings.ContainsRune(s, 0):
		errs[path] = "must not contain NUL characters"
	case !utf8.ValidString(s):
		errs[path] = "must be valid UTF-8"
	case len(s) > max:
		errs[path] = "is too long"
	}
}

func isJSONObject(raw json.RawMessage) bool {
	s := strings.TrimLeft(string(raw), " \t\r\n")
	return strings.HasPrefix(s, "{") && json.Valid(raw)
}

func providerConfig(p *Provider) map[string]any {
	if p == nil {
		return nil
	}
	return p.Config
}

// hasNUL reports whether any key or string inside v (as decoded by encoding/json) holds a NUL character.
func hasNUL(v any) bool {
	switch t := v.(type) {
	case string:
		return strings.ContainsRune(t, 0)
	case map[string]any:
		for k, e := range t {
			if strings.ContainsRune(k, 0) || hasNUL(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if hasNUL(e) {
				return true
			}
		}
	}
	return false
}

// Scrubbed returns a copy of r with the values under secret-looking keys redacted (provider config, identity
// data, the event) and the invite token removed: what a finished job keeps of its request (SPEC §4). The
// organization's auth provider keeps its own copy of the config, which it needs.
func (r Request) Scrubbed() Request {
	out := r
	if r.Provider != nil {
		p := *r.Provider
		p.Config = redact.Map(p.Config)
		out.Provider = &p
	}
	out.Identity.Data = redact.Map(r.Identity.Data)
	if r.Invite != nil {
		inv := *r.Invite
		if inv.Token != "" {
			inv.Token = redact.Placeholder
		}
		out.Invite = &inv
	}
	if len(r.Event) > 0 {
		var ev any
		if err := json.Unmarshal(r.Event, &ev); err == nil {
			if raw, err := json.Marshal(redact.Value(ev)); err == nil {
				out.Event = raw
			}
		} else {
			out.Event = nil // not an object we can scrub: keep nothing of it
		}
	}
	return out
}
