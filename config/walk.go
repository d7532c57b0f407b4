package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// FieldError is one problem in the configuration, at a JSON path (or an
// environment variable name).
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Errors is every problem Parse found, in file order. Use errors.As to get
// it from the error Load returns.
type Errors []*FieldError

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// walker decodes a JSON document into generic values and reads them with
// path tracking, so every error can name where it is.
type walker struct {
	errs  Errors
	warns []string
	// fileCacheTTL holds app_manager.cache.ttl until the TTL precedence is
	// resolved.
	fileCacheTTL AppManager
}

func (w *walker) errorf(path, format string, args ...any) {
	w.errs = append(w.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (w *walker) warnf(path, format string, args ...any) {
	w.warns = append(w.warns, path+": "+fmt.Sprintf(format, args...))
}

// decodeDocument parses data into a generic tree, numbers kept exact.
func decodeDocument(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line, col := position(data, syn.Offset)
			return nil, fmt.Errorf("line %d, column %d: %w", line, col, err)
		}
		return nil, err
	}
	if dec.More() {
		line, col := position(data, dec.InputOffset()+1)
		return nil, fmt.Errorf("line %d, column %d: unexpected data after the top-level value", line, col)
	}
	return v, nil
}

// position turns the byte count a json error reports ("after reading
// offset bytes") into the 1-based line and column of the offending byte.
func position(data []byte, offset int64) (line, col int) {
	offset = max(0, min(offset-1, int64(len(data))))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// object is a JSON object being read; get records which keys were used.
type object struct {
	path string
	m    map[string]any
}

// object returns v as an object, or reports a type error. A JSON null or an
// absent value gives ok == false without an error.
func (w *walker) object(path string, v any) (*object, bool) {
	switch t := v.(type) {
	case nil:
		return nil, false
	case map[string]any:
		return &object{path: path, m: t}, true
	default:
		w.errorf(path, "must be an object, got %s", describe(v))
		return nil, false
	}
}

// get returns the value at key (nil when absent or null) and its path.
func (o *object) get(key string) (any, string) {
	return o.m[key], join(o.path, key)
}

func (o *object) has(key string) bool {
	v, ok := o.m[key]
	return ok && v != nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// checkKeys reports keys of o not in known as errors (strict) or warnings,
// with a hint: an explicit one from hints, or the closest known key.
func (w *walker) checkKeys(o *object, known []string, hints map[string]string, strict bool) {
	keys := make([]string, 0, len(o.m))
	for k := range o.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if contains(known, k) {
			continue
		}
		msg := "unknown key"
		if h, ok := hints[k]; ok {
			msg += "; " + h
		} else if s := closest(k, known); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		if strict {
			w.errorf(join(o.path, k), "%s", msg)
		} else {
			w.warnf(join(o.path, k), "%s (ignored)", msg)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// closest returns the known key within edit distance 2 of k, if any.
func closest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// setString sets *dst to o's string at key, when present and a string.
func (w *walker) setString(o *object, key string, dst *string) {
	if v, p := o.get(key); v != nil {
		if x, ok := w.str(p, v); ok {
			*dst = x
		}
	}
}

func (w *walker) str(path string, v any) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "", false
	case string:
		return t, true
	default:
		got := describe(v)
		if secretPath(path) {
			got = kindOf(v) // a secret's value is never shown, not even a wrong one
		}
		w.errorf(path, "must be a string, got %s", got)
		return "", false
	}
}

// secretPath reports whether path names a secret: an app's secret, a
// database password, an AWS secret key.
func secretPath(path string) bool {
	name := path[strings.LastIndexByte(path, '.')+1:]
	return name == "secret" || name == "password" || name == "aws_secret_access_key"
}

// kindOf names v's JSON type without its value.
func kindOf(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case json.Number, int64, float64, int:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a value of another type"
}

// boolean accepts JSON booleans and the strings "true"/"false" (Sockudo
// configs written by tools sometimes quote them).
func (w *walker) boolean(path string, v any) (bool, bool) {
	switch t := v.(type) {
	case nil:
		return false, false
	case bool:
		return t, true
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(t)); err == nil {
			return b, true
		}
	}
	w.errorf(path, "must be true or false, got %s", describe(v))
	return false, false
}

// integer accepts JSON integers and integers written as strings ("1000", as
// Sockudo's own examples do), within [lo, hi].
func (w *walker) integer(path string, v any, lo, hi int64) (int64, bool) {
	var text string
	switch t := v.(type) {
	case nil:
		return 0, false
	case json.Number:
		text = t.String()
	case string:
		text = strings.TrimSpace(t)
	default:
		w.errorf(path, "must be an integer, got %s", describe(v))
		return 0, false
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		w.errorf(path, "must be an integer, got %s", describe(v))
		return 0, false
	}
	if n < lo || n > hi {
		w.errorf(path, "%d is out of range; allowed %s", n, rangeText(lo, hi))
		return 0, false
	}
	return n, true
}

func rangeText(lo, hi int64) string {
	if hi == math.MaxInt64 {
		return fmt.Sprintf("%d or more", lo)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

func (w *walker) strings(path string, v any) ([]string, bool) {
	switch t := v.(type) {
	case nil:
		return nil, false
	case []any:
		out := make([]string, 0, len(t))
		ok := true
		for i, e := range t {
			s, isStr := e.(string)
			if !isStr {
				w.errorf(index(path, i), "must be a string, got %s", describe(e))
				ok = false
				continue
			}
			out = append(out, s)
		}
		return out, ok
	default:
		w.errorf(path, "must be an array of strings, got %s", describe(v))
		return nil, false
	}
}

func (w *walker) array(path string, v any) ([]any, bool) {
	switch t := v.(type) {
	case nil:
		return nil, false
	case []any:
		return t, true
	default:
		w.errorf(path, "must be an array, got %s", describe(v))
		return nil, false
	}
}

// describe prints a JSON value briefly for messages.
func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		if len(t) > 60 {
			t = t[:57] + "..."
		}
		return strconv.Quote(t)
	case bool:
		return strconv.FormatBool(t)
	case json.Number:
		return t.String()
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("%v", v)
	}
}
