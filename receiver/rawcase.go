package receiver

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
)

// Go's HTTP server canonicalises header names before a handler sees them,
// so "x-pusher-signature:" on the wire and "X-Pusher-Signature:" look the
// same in r.Header. PHP receivers read headers with their exact case, so the
// receiver needs the bytes as sent. A raw-case listener tees every byte the
// server reads from a connection into a small HTTP/1.x framing parser that
// cuts out each request head (request line and header block); EnableRawCase
// hands the heads, in order, to the requests they belong to. HTTP/1.x
// requests on one connection are handled one after another, so the n-th
// handler call on a connection gets the n-th head, and the request line is
// compared with the parsed request to be sure.

// maxHeadBytes bounds one captured head; net/http's default MaxHeaderBytes
// is 1 MiB, and it allows 4 KiB over that.
const maxHeadBytes = http.DefaultMaxHeaderBytes + 64<<10

// NewRawCaseListener wraps l so that the server reading its connections
// keeps each request's raw head. It takes effect only on an http.Server
// prepared with EnableRawCase; NewServer does both.
func NewRawCaseListener(l net.Listener) net.Listener { return rawListener{l} }

// EnableRawCase makes srv attach each request's raw head (see RawHead) when
// it serves connections accepted by a NewRawCaseListener. It chains
// srv.ConnContext and wraps srv.Handler (http.DefaultServeMux when nil), so
// call it once, before serving.
func EnableRawCase(srv *http.Server) {
	prev := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prev != nil {
			ctx = prev(ctx, c)
		}
		if rc, ok := c.(*rawConn); ok {
			ctx = context.WithValue(ctx, connStateKey{}, rc.st)
		}
		return ctx
	}
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	srv.Handler = rawCaseHandler{h}
}

// NewServer starts an httptest server on a loopback address whose handler
// h sees raw request heads, so Verify checks header case. Close it when
// done.
func NewServer(h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.Listener = NewRawCaseListener(s.Listener)
	EnableRawCase(s.Config)
	s.Start()
	return s
}

// RawHead returns the request line and header block of r exactly as they
// arrived, through the empty line that ends them. ok is false when r was
// not served through NewRawCaseListener and EnableRawCase, or when its head
// could not be matched to it (a receiver bug, or a head over 1 MiB); in the
// second case Verify rejects the request (RuleCapture) rather than skip
// the header-case check.
func RawHead(r *http.Request) (head []byte, ok bool) {
	h, ok := r.Context().Value(rawHeadKey{}).(rawHead)
	if !ok || !h.captured {
		return nil, false
	}
	return h.b, true
}

type (
	connStateKey struct{}
	rawHeadKey   struct{}
)

// rawHead is what rawCaseHandler attaches to a request.
type rawHead struct {
	b        []byte
	captured bool
}

type rawCaseHandler struct{ h http.Handler }

func (rh rawCaseHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st, ok := r.Context().Value(connStateKey{}).(*connState)
	if !ok {
		rh.h.ServeHTTP(w, r)
		return
	}
	head, captured := st.pop(r)
	ctx := context.WithValue(r.Context(), rawHeadKey{}, rawHead{b: head, captured: captured})
	rh.h.ServeHTTP(w, r.WithContext(ctx))
}

type rawListener struct{ net.Listener }

func (l rawListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, st: &connState{}}, nil
}

type rawConn struct {
	net.Conn
	st *connState
}

func (c *rawConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.st.feed(p[:n])
	}
	return n, err
}

// Parser states of connState.
const (
	stHead      = iota // reading a request head
	stBody             // skipping remain bytes of a Content-Length body
	stChunkSize        // reading a chunk-size line
	stChunkData        // skipping remain bytes of chunk data
	stChunkCRLF        // reading the line end after chunk data
	stTrailer          // reading trailer lines up to an empty one
)

// connState follows the HTTP/1.x framing of one connection's byte stream
// and queues the request heads it finds. Reads happen on the server's
// connection goroutine and its background reader, handlers on another, so
// it is locked.
type connState struct {
	mu     sync.Mutex
	heads  [][]byte
	broken bool // framing lost: stop capturing; later requests are uncaptured

	state  int
	buf    []byte // head, chunk-size line or trailer line being read
	remain int64
}

// pop returns the oldest queued head if its request line is r's.
func (s *connState) pop(r *http.Request) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.heads) == 0 {
		return nil, false
	}
	h := s.heads[0]
	s.heads = s.heads[1:]
	line, _, _ := bytes.Cut(h, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if string(line) != r.Method+" "+r.RequestURI+" "+r.Proto {
		s.broken, s.heads = true, nil
		return nil, false
	}
	return h, true
}

func (s *connState) feed(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(p) > 0 && !s.broken {
		switch s.state {
		case stHead:
			if len(s.buf) == 0 && (p[0] == '\r' || p[0] == '\n') {
				p = p[1:] // blank lines before a request line
				continue
			}
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				s.buf = append(s.buf, p...)
				p = nil
			} else {
				s.buf = append(s.buf, p[:i+1]...)
				p = p[i+1:]
				if endsHead(s.buf) {
					s.endHead()
				}
			}
			if len(s.buf) > maxHeadBytes {
				s.broken = true
			}
		case stBody, stChunkData:
			n := min(s.remain, int64(len(p)))
			p, s.remain = p[n:], s.remain-n
			if s.remain == 0 {
				if s.state == stBody {
					s.state = stHead
				} else {
					s.state = stChunkCRLF
				}
			}
		case stChunkSize, stChunkCRLF, stTrailer:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				s.buf = append(s.buf, p...)
				p = nil
				if len(s.buf) > 4096 {
					s.broken = true
				}
				continue
			}
			line := string(bytes.TrimSuffix(append(s.buf, p[:i]...), []byte("\r")))
			p, s.buf = p[i+1:], s.buf[:0]
			s.endLine(line)
		}
	}
}

// endsHead reports whether b, a head read up to a line end, ends with an
// empty line (net/http accepts bare LF line ends too).
func endsHead(b []byte) bool {
	return bytes.HasSuffix(b, []byte("\n\n")) || bytes.HasSuffix(b, []byte("\n\r\n"))
}

// endHead queues the complete head in s.buf and sets up skipping its body.
func (s *connState) endHead() {
	head := bytes.Clone(s.buf)
	s.buf = s.buf[:0]
	s.heads = append(s.heads, head)
	s.state = stHead
	chunked, length := false, int64(0)
	lines := strings.Split(string(head), "\n")
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(strings.TrimSuffix(l, "\r"), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch {
		case strings.EqualFold(name, "Transfer-Encoding"):
			chunked = chunked || strings.Contains(strings.ToLower(value), "chunked")
		case strings.EqualFold(name, "Content-Length"):
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 {
				s.broken = true // net/http rejects it and closes the connection
				return
			}
			length = n
		}
	}
	switch {
	case chunked: // Transfer-Encoding wins over Content-Length
		s.state = stChunkSize
	case length > 0:
		s.state, s.remain = stBody, length
	}
}

// endLine handles one line of chunked framing.
func (s *connState) endLine(line string) {
	switch s.state {
	case stChunkCRLF:
		s.state = stChunkSize
	case stChunkSize:
		size, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		switch {
		case err != nil || n < 0:
			s.broken = true
		case n == 0:
			s.state = stTrailer
		default:
			s.state, s.remain = stChunkData, n
		}
	case stTrailer:
		if line == "" {
			s.state = stHead
		}
	}
}
