package ssosetup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
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
