package localstack

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// launcherFile is the Node launcher, in this package's directory.
	launcherFile = "fauxqs.mjs"
	// readyPrefix starts the one line the launcher prints on stdout once it accepts connections.
	readyPrefix = "fauxqs listening on "
	// startTimeout bounds the wait for the ready line (a cold Node start on a busy CI runner).
	startTimeout = 30 * time.Second
	// stopTimeout bounds the wait after SIGTERM before the process is killed.
	stopTimeout = 10 * time.Second
	// stderrTail is how much of the launcher's stderr is kept for error messages.
	stderrTail = 8 << 10
)

// The fauxqs started by this test process: started at most once, stopped by Stop.
var (
	startOnce sync.Once
	mu        sync.Mutex
	started   *server // nil until started successfully
	startErr  error   // why it could not be started
	stopped   bool
)

// unavailableError reports a missing prerequisite (node, npm ci): tests skip, or fail in CI.
type unavailableError struct{ reason string }

func (e *unavailableError) Error() string { return e.reason }

// SQSEndpoint returns the base URL of the SQS endpoint integration tests must use: the value of
// AWS_ENDPOINT_URL_SQS when set, otherwise that of a fauxqs started once per test process (see
// the package documentation). It logs which one it chose.
//
// When neither is available it skips the test with instructions, or, when the CI environment
// variable is non-empty, fails it: integration tests never skip silently in CI.
func SQSEndpoint(tb testing.TB) string {
	tb.Helper()
	if v := os.Getenv(EndpointEnv); v != "" {
		tb.Logf("localstack: SQS = %s=%s", EndpointEnv, v)
		return v
	}

	startOnce.Do(func() {
		s, err := startFauxqs()
		mu.Lock()
		defer mu.Unlock()
		started, startErr = s, err
		if stopped && s != nil { // Stop ran before the start finished
			_ = s.stop()
		}
	})

	mu.Lock()
	s, err, isStopped := started, startErr, stopped
	mu.Unlock()

	var unavailable *unavailableError
	switch {
	case errors.As(err, &unavailable):
		if os.Getenv("CI") != "" {
			tb.Fatalf("localstack: CI is set, but there is no SQS for the integration tests: %s. "+
				"Fix the CI job: install Node.js 20+ and run `npm ci` in localstack/ (`make test` does), "+
				"or set %s to a LocalStack endpoint.", unavailable.reason, EndpointEnv)
		}
		tb.Skipf("localstack: skipping integration test: %s. To enable: install Node.js 20+ and run "+
			"`cd localstack && npm ci` (or `make test`), or set %s to a LocalStack endpoint.",
			unavailable.reason, EndpointEnv)
	case err != nil:
		tb.Fatalf("localstack: start fauxqs: %v", err)
	case isStopped:
		tb.Fatalf("localstack: fauxqs was already stopped (localstack.Stop runs after all tests)")
	}
	if exited, werr := s.exited(); exited {
		tb.Fatalf("localstack: fauxqs (pid %d) exited unexpectedly: %v; stderr:\n%s", s.pid(), werr, orEmpty(s.stderr))
	}
	tb.Logf("localstack: SQS = fauxqs started by the harness at %s (pid %d)", s.url, s.pid())
	return s.url
}

// Stop stops the fauxqs started by SQSEndpoint, if any: SIGTERM, then wait (killing it after
// 10 s). It is safe to call more than once and when nothing was started. Call it after all tests
// ran; RunTests does.
func Stop() {
	mu.Lock()
	s := started
	stopped = true
	mu.Unlock()
	if s == nil {
		return
	}
	if err := s.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "localstack: fauxqs (pid %d): %v\nstderr:\n%s", s.pid(), err, orEmpty(s.stderr))
	}
}

// RunTests runs the tests and then stops the harness's fauxqs. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m)) }
func RunTests(m *testing.M) int {
	defer Stop()
	return m.Run()
}

// server is a running fauxqs launcher process.
type server struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser // closing it makes the launcher exit
	url    string
	stderr *TailBuffer

	done    chan struct{} // closed once the process has been waited for
	waitErr error         // valid after done is closed

	stopOnce sync.Once
	stopErr  error
}

func startFauxqs() (*server, error) {
	dir, err := launcherDir()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "fauxqs", "package.json")); err != nil {
		return nil, &unavailableError{fmt.Sprintf("fauxqs is not installed in %s (node_modules/fauxqs is missing)", dir)}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, &unavailableError{"node is not on PATH"}
	}

	cmd := exec.Command(node, filepath.Join(dir, launcherFile), "--port", "0")
	cmd.Dir = dir
	s := &server{cmd: cmd, stderr: &TailBuffer{Max: stderrTail}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", node, err)
	}

	ready := make(chan string, 1)
	go func() {
		// Read stdout to the end (so the launcher never blocks on a full pipe), then reap it.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), readyPrefix); ok {
				select {
				case ready <- strings.TrimSpace(url):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		s.waitErr = cmd.Wait()
		close(s.done)
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case s.url = <-ready:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("%s exited before it was ready: %v; stderr:\n%s", launcherFile, s.waitErr, orEmpty(s.stderr))
	case <-timer.C:
		_ = s.stop()
		return nil, fmt.Errorf("%s not ready after %v; stderr:\n%s", launcherFile, startTimeout, orEmpty(s.stderr))
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// exited reports whether the process has exited, and how.
func (s *server) exited() (bool, error) {
	select {
	case <-s.done:
		return true, s.waitErr
	default:
		return false, nil
	}
}

// stop asks the launcher to exit (SIGTERM where signals exist, and end-of-file on its stdin
// everywhere), waits, and kills it if it does not exit within stopTimeout.
func (s *server) stop() error {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM) // not supported on Windows; stdin EOF covers it
		_ = s.stdin.Close()
		timer := time.NewTimer(stopTimeout)
		defer timer.Stop()
		select {
		case <-s.done:
			if s.waitErr != nil {
				s.stopErr = fmt.Errorf("exit after SIGTERM: %w", s.waitErr)
			}
		case <-timer.C:
			_ = s.cmd.Process.Kill()
			<-s.done
			s.stopErr = fmt.Errorf("did not exit within %v of SIGTERM; killed", stopTimeout)
		}
	})
	return s.stopErr
}

// launcherDir finds the directory holding fauxqs.mjs: this source file's directory, which works
// from any package's tests; or, for binaries built with -trimpath, a localstack/ directory in the
// working directory or one of its parents.
func launcherDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Dir(file)
		if _, err := os.Stat(filepath.Join(dir, launcherFile)); err == nil {
			return dir, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("locate %s: %w", launcherFile, err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, "localstack")
		if _, err := os.Stat(filepath.Join(candidate, launcherFile)); err == nil {
			return candidate, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("locate %s: not next to the localstack package source, nor in a localstack/ directory above %s", launcherFile, wd)
		}
	}
}

// TailBuffer is an io.Writer keeping the last Max bytes written, safe for
// concurrent use: a child process's output, for error messages.
type TailBuffer struct {
	Max int
	mu  sync.Mutex
	buf []byte
}

func (b *TailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.Max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// String is what was kept.
func (b *TailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// orEmpty names an empty output in an error message.
func orEmpty(b *TailBuffer) string {
	if s := b.String(); s != "" {
		return s
	}
	return "(empty)"
}
