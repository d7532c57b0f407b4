package payload

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-rolled JSON scanner for the raw path. It accepts exactly what
// encoding/json's scanner accepts (json.Valid), including its nesting limit,
// and reports syntax errors only as "not valid"; DecodeRaw lets Decode word
// them. While it scans it notes what the raw path cares about (flag bits).

// maxDepth is encoding/json's nesting limit: deeper input is not valid JSON.
const maxDepth = 10000

// Flags a scanned value can carry.
const (
	fEsc  = 1 << iota // a string had a backslash escape
	fHigh             // a string had a byte >= 0x80
	fOdd              // a string had invalid UTF-8 or an unpaired surrogate escape: it does not survive a decode unchanged
	fWS               // whitespace between tokens
)

type scanner struct {
	b   []byte
	pos int
}

// strPlain marks the bytes a string may contain that need no attention.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// ws skips whitespace and reports fWS when there was any.
func (s *scanner) ws() int {
	start := s.pos
	for s.pos < len(s.b) && isWS(s.b[s.pos]) {
		s.pos++
	}
	if s.pos != start {
		return fWS
	}
	return 0
}

// peek returns the byte at pos, or 0 at the end.
func (s *scanner) peek() byte {
	if s.pos < len(s.b) {
		return s.b[s.pos]
	}
	return 0
}

// str scans the string starting at pos (which holds '"') and leaves pos
// after its closing quote.
func (s *scanner) str() (flags int, ok bool) {
	b := s.b
	start := s.pos + 1
	i := start
	for {
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return flags, false
		}
		switch c := b[i]; {
		case c == '"':
			if flags&fHigh != 0 && !utf8.Valid(b[start:i]) {
				flags |= fOdd
			}
			s.pos = i + 1
			return flags, true
		case c == '\\':
			flags |= fEsc
			if i+1 >= len(b) {
				return flags, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r := hex4(b, i)
				if r < 0 {
					return flags, false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r1 := hex4(b, i); r < 0xdc00 && r1 >= 0xdc00 && r1 <= 0xdfff {
						i += 6 // a valid pair
					} else {
						flags |= fOdd
					}
				}
			default:
				return flags, false
			}
		case c < 0x20:
			return flags, false
		default:
			flags |= fHigh
			i++
		}
	}
}

// hex4 decodes the \uXXXX escape at b[i:], or returns -1.
func hex4(b []byte, i int) rune {
	if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[i+2 : i+6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// value scans one JSON value at pos; depth is the number of arrays and
// objects around it.
func (s *scanner) value(depth int) (flags int, ok bool) {
	switch s.peek() {
	case '"':
		return s.str()
	case '{':
		if depth++; depth > maxDepth {
			return 0, false
		}
		s.pos++
		flags |= s.ws()
		if s.peek() == '}' {
			s.pos++
			return flags, true
		}
		for {
			if s.peek() != '"' {
				return flags, false
			}
			f, ok := s.str()
			flags |= f
			if !ok {
				return flags, false
			}
			flags |= s.ws()
			if s.peek() != ':' {
				return flags, false
			}
			s.pos++
			flags |= s.ws()
			f, ok = s.value(depth)
			flags |= f
			if !ok {
				return flags, false
			}
			flags |= s.ws()
			switch s.peek() {
			case ',':
				s.pos++
				flags |= s.ws()
			case '}':
				s.pos++
				return flags, true
			default:
				return flags, false
			}
		}
	case '[':
		if depth++; depth > maxDepth {
			return 0, false
		}
		s.pos++
		flags |= s.ws()
		if s.peek() == ']' {
			s.pos++
			return flags, true
		}
		for {
			f, ok := s.value(depth)
			flags |= f
			if !ok {
				return flags, false
			}
			flags |= s.ws()
			switch s.peek() {
			case ',':
				s.pos++
				flags |= s.ws()
			case ']':
				s.pos++
				return flags, true
			default:
				return flags, false
			}
		}
	case 't':
		return 0, s.lit("true")
	case 'f':
		return 0, s.lit("false")
	case 'n':
		return 0, s.lit("null")
	default:
		_, ok := s.number()
		return 0, ok
	}
}

func (s *scanner) lit(word string) bool {
	if len(s.b)-s.pos < len(word) || string(s.b[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}

// number scans a JSON number; isInt reports one without fraction or
// exponent.
func (s *scanner) number() (isInt, ok bool) {
	b, i := s.b, s.pos
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return false, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
	default:
		return false, false
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		isInt = false
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false, false
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false, false
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	s.pos = i
	return isInt, true
}

// parseInt parses a JSON integer (-?digits, already scanned) as
// strconv.ParseInt(s, 10, bits) would, reporting false on overflow.
func parseInt(b []byte, bits int) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	limit := uint64(1)<<(bits-1) - 1 // largest positive value
	if neg {
		limit++
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (limit-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		return -int64(n), true // n == limit wraps to the minimum, as intended
	}
	return int64(n), true
}

// isNullLit reports whether raw (a value without surrounding space) is null.
func isNullLit(raw []byte) bool { return string(raw) == "null" }

// unquote decodes the content s of a scanned JSON string (between its
// quotes) exactly as encoding/json does: escapes resolved, surrogate pairs
// joined, invalid UTF-8 and unpaired surrogates replaced by U+FFFD.
func unquote(s []byte) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '\\' {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	if i == len(s) {
		return string(s)
	}
	buf := make([]byte, i, len(s)+utf8.UTFMax)
	copy(buf, s[:i])
	for i < len(s) {
		switch c := s[i]; {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r := hex4(s, i)
				i += 6
				if utf16.IsSurrogate(r) {
					if dec := utf16.DecodeRune(r, hex4(s, i)); dec != unicode.ReplacementChar {
						i += 6
						buf = utf8.AppendRune(buf, dec)
						continue
					}
					r = unicode.ReplacementChar
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default: // '"', '\\', '/'
				buf = append(buf, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			i += size
			buf = utf8.AppendRune(buf, r)
		}
	}
	return string(buf)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json writes
// it without HTML escaping.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if strPlain[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// stringLen is len(appendString(nil, s)).
func stringLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			switch {
			case strPlain[c]:
			case c == '\\' || c == '"' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n++
			default:
				n += 5
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 5
		case r == '\u2028' || r == '\u2029':
			n += 3
		}
		i += size
	}
	return n
}

// intLen is the number of bytes strconv.AppendInt writes for n.
func intLen(n int64) int {
	l := 1
	u := uint64(n)
	if n < 0 {
		l++
		u = -u
	}
	for u >= 10 {
		u /= 10
		l++
	}
	return l
}

// SQS accepts only #x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD |
// #x10000–#x10FFFF in a message, and common emulators (fauxqs) nothing
// above U+FFFF. Everything payload writes for the queue is therefore ASCII:
// every other character is a \uXXXX escape (a surrogate pair above
// U+FFFF), so no event content can make SQS refuse a message, and a JSON
// reader gets the same string back.

// isASCII reports whether b has no byte above 0x7f.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendASCII appends JSON text b with every non-ASCII character escaped
// (invalid UTF-8 as \ufffd). Outside strings JSON is ASCII, so only string
// contents change, and only in how they are written.
func appendASCII(dst, b []byte) []byte {
	start := 0
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		dst = append(dst, b[start:i]...)
		r, size := utf8.DecodeRune(b[i:])
		dst = appendRuneEscape(dst, r)
		i += size
		start = i
	}
	return append(dst, b[start:]...)
}

// toASCII is appendASCII in place of b when b is not ASCII already.
func toASCII(b []byte) []byte {
	if isASCII(b) {
		return b
	}
	return appendASCII(make([]byte, 0, asciiLen(b)), b)
}

// appendRuneEscape writes r as \uXXXX, or as a surrogate pair.
func appendRuneEscape(dst []byte, r rune) []byte {
	if r >= 0x10000 {
		r1, r2 := utf16.EncodeRune(r)
		return appendRuneEscape(appendRuneEscape(dst, r1), r2)
	}
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// asciiLen is len(appendASCII(nil, b)).
func asciiLen(b []byte) int {
	n := len(b)
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		n += escapeLen(r) - size
		i += size
	}
	return n
}

func escapeLen(r rune) int {
	if r >= 0x10000 {
		return 12
	}
	return 6
}

// asciiStringLen is the length of s as a JSON string written by
// appendString and then appendASCII.
func asciiStringLen(s string) int {
	n := stringLen(s)
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !(r == utf8.RuneError && size == 1) && r != '\u2028' && r != '\u2029' {
			n += escapeLen(r) - size // kept raw by appendString, escaped by appendASCII
		}
		i += size
	}
	return n
}
