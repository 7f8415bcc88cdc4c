package ssosetup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DecodeRequest decodes one request strictly (unknown fields and wrong types are errors, reported per field)
// and normalizes it.
func DecodeRequest(data []byte) (Request, error) {
	var r Request
	if err := decodeStrict(data, &r); err != nil {
		return r, err
	}
	return r, r.Normalize()
}

// decodeStrict decodes exactly one JSON value into v, turning decoder errors into FieldErrors.
func decodeStrict(data []byte, v any) error {
	if err := checkEncoding(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return FieldErrors{"(body)": "unexpected data after the JSON object"}
	}
	return nil
}

// DecodeStrict is decodeStrict for other packages' request bodies (the batch wrapper).
func DecodeStrict(data []byte, v any) error { return decodeStrict(data, v) }

// checkEncoding refuses what encoding/json would quietly turn into U+FFFD but Postgres cannot store or a client
// did not mean: bytes that are not UTF-8, and escaped UTF-16 surrogates that do not pair up (`\ud800`).
func checkEncoding(data []byte) error {
	if !utf8.Valid(data) {
		return FieldErrors{"(body)": "must be valid UTF-8"}
	}
	if i := loneSurrogate(data); i >= 0 {
		return FieldErrors{"(body)": fmt.Sprintf("lone UTF-16 surrogate escape at byte %d", i)}
	}
	return nil
}

// loneSurrogate returns the offset of the first \u escape of a surrogate that is not half of a pair, or -1.
// Backslashes occur only inside strings in valid JSON, and each escape is consumed whole, so an escaped
// backslash (\\) is never mistaken for the start of an escape.
func loneSurrogate(data []byte) int {
	for i := 0; i < len(data)-1; i++ {
		if data[i] != '\\' {
			continue
		}
		r, ok := escapedRune(data[i:])
		switch {
		case !ok:
			i++ // an escape of one character, or malformed: the decoder reports that
		case utf16.IsSurrogate(r) && r < 0xDC00:
			if low, ok := escapedRune(data[i+6:]); !ok || low < 0xDC00 || low > 0xDFFF {
				return i
			}
			i += 11
		case utf16.IsSurrogate(r):
			return i // a low surrogate with no high one before it
		default:
			i += 5
		}
	}
	return -1
}

// escapedRune decodes a \uXXXX escape at the start of b.
func escapedRune(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[2:6]), 16, 16)
	return rune(n), err == nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		path := typeErr.Field
		if path == "" {
			path = "(body)"
		}
		return FieldErrors{path: fmt.Sprintf("must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return FieldErrors{"(body)": fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return FieldErrors{"(body)": "empty or truncated JSON"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return FieldErrors{name: "unknown field"}
	default:
		return FieldErrors{"(body)": err.Error()}
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32", "uint64", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	default:
		return goKind
	}
}
