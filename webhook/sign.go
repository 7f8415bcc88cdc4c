// Package webhook signs webhook deliveries the Standard Webhooks way (standardwebhooks.com, SPEC §11):
// headers webhook-id, webhook-timestamp and webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>",
// keyed with a "whsec_<base64>" secret.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const secretPrefix = "whsec_"

// ParseSecret returns the key of a "whsec_<base64>" secret of 24 to 64 bytes, as the convention defines.
func ParseSecret(s string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, errors.New("must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, errors.New("after whsec_ must come standard base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, errors.New("must hold 24 to 64 bytes")
	}
	return key, nil
}

// Sign returns the webhook-signature of a delivery.
func Sign(key []byte, id string, at time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(at.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SetHeaders sets a delivery's three headers on h.
func SetHeaders(h http.Header, key []byte, id string, at time.Time, body []byte) {
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("webhook-signature", Sign(key, id, at, body))
}
