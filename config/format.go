package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Format is a config file's syntax.
type Format int

const (
	// FormatAuto picks by content: a document whose first non-blank
	// character is '{' is JSON, anything else TOML.
	FormatAuto Format = iota
	// FormatJSON is Sockudo's legacy config.json.
	FormatJSON
	// FormatTOML is Sockudo's config.toml, which it reads first.
	FormatTOML
)

// FormatOf is the format a file name says (.json, .toml), else FormatAuto.
func FormatOf(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return FormatJSON
	case ".toml":
		return FormatTOML
	}
	return FormatAuto
}

// decodeAs parses data in format f into the generic tree the walker reads:
// objects as map[string]any, arrays as []any, numbers as json.Number.
func decodeAs(data []byte, f Format) (any, error) {
	if f == FormatAuto {
		f = FormatTOML
		if t := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
			f = FormatJSON
		}
	}
	if f == FormatJSON {
		return decodeDocument(data)
	}
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("line %d, column %d: TOML: %s", pe.Position.Line, pe.Position.Col, pe.Message)
		}
		return nil, fmt.Errorf("TOML: %w", err)
	}
	return normalizeTOML(doc), nil
}

// normalizeTOML turns TOML's values into JSON's: integers and floats to
// json.Number, arrays of tables to []any, dates to their RFC 3339 text.
func normalizeTOML(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeTOML(e)
		}
		return t
	case []map[string]any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalizeTOML(e)
		}
		return out
	case []any:
		for i, e := range t {
			t[i] = normalizeTOML(e)
		}
		return t
	case int64:
		return json.Number(strconv.FormatInt(t, 10))
	case float64:
		return json.Number(strconv.FormatFloat(t, 'g', -1, 64))
	case time.Time:
		return t.Format(time.RFC3339Nano)
	}
	return v
}

// envRef is ${NAME} or ${NAME:-default}; $${ is a literal ${.
var envRef = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// expandEnv replaces ${NAME} and ${NAME:-default} in the file's text with
// the variable's value, as Sockudo does: an unset (or, with ":-", empty)
// variable takes the default; one unset without a default is an error
// naming it and its line. $${ stays a literal ${. Lines that are TOML
// comments (# first) are left alone.
func expandEnv(data []byte, lookup func(string) (string, bool)) ([]byte, error) {
	if !bytes.Contains(data, []byte("${")) {
		return data, nil
	}
	var out []byte
	var errs Errors
	last := 0
	for _, m := range envRef.FindAllSubmatchIndex(data, -1) {
		out = append(out, data[last:m[0]]...)
		last = m[1]
		if inComment(data, m[0]) { // a TOML comment line: left as it is
			out = append(out, data[m[0]:m[1]]...)
			continue
		}
		if m[2] < 0 { // $${
			out = append(out, "${"...)
			continue
		}
		name := string(data[m[2]:m[3]])
		hasDefault := m[4] >= 0
		v, ok := lookup(name)
		switch {
		case ok && (v != "" || !hasDefault):
			out = append(out, v...)
		case hasDefault:
			out = append(out, data[m[4]:m[5]]...)
		default:
			line := 1 + bytes.Count(data[:m[0]], []byte("\n"))
			errs = append(errs, &FieldError{Path: fmt.Sprintf("line %d", line),
				Msg: fmt.Sprintf("${%s}: %s is not set and has no default (write ${%s:-value}, or $${%s} for the text itself)", name, name, name, name)})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return append(out, data[last:]...), nil
}

// inComment reports whether offset i is on a line whose first non-blank
// character is '#'.
func inComment(data []byte, i int) bool {
	start := bytes.LastIndexByte(data[:i], '\n') + 1
	line := bytes.TrimLeft(data[start:i], " \t")
	return len(line) > 0 && line[0] == '#'
}
