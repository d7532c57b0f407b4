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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The Node launchers of this directory (fauxqs.mjs, dynalite.mjs) share one protocol: `node
// NAME.mjs --port N` binds 127.0.0.1 (N = 0: a free port), prints exactly one line on stdout,
// "NAME listening on http://127.0.0.1:PORT", once it accepts connections, and exits on SIGTERM
// and when its stdin reaches end-of-file.
const (
	// launcherFile is a launcher every checkout has; launcherDir looks for it.
	launcherFile = "fauxqs.mjs"
	// startTimeout bounds the wait for the ready line (a cold Node start on a busy CI runner).
	startTimeout = 30 * time.Second
	// stopTimeout bounds the wait after SIGTERM before the process is killed.
	stopTimeout = 10 * time.Second
	// stderrTail is how much of the launcher's stderr is kept for error messages.
	stderrTail = 8 << 10
)

// launcher is one emulator: the npm package (pinned in package.json) and the script that runs it.
type launcher struct {
	pkg    string // npm package, in node_modules/: "fauxqs", "dynalite"
	script string // launcher in this directory: "fauxqs.mjs"
}

var (
	fauxqsLauncher   = launcher{pkg: "fauxqs", script: "fauxqs.mjs"}
	dynaliteLauncher = launcher{pkg: "dynalite", script: "dynalite.mjs"}
)

func (l launcher) readyPrefix() string { return l.pkg + " listening on " }

// unavailableError reports a missing prerequisite (node, npm ci): tests skip, or fail in CI.
type unavailableError struct{ reason string }

func (e *unavailableError) Error() string { return e.reason }

// server is a running launcher process.
type server struct {
	l      launcher
	cmd    *exec.Cmd
	stdin  io.WriteCloser // closing it makes the launcher exit
	url    string
	stderr *TailBuffer

	done    chan struct{} // closed once the process has been waited for
	waitErr error         // valid after done is closed

	stopOnce sync.Once
	stopErr  error
}

// start runs the launcher on 127.0.0.1:port (0: a free port) and waits for its ready line.
func (l launcher) start(port int) (*server, error) {
	dir, err := launcherDir()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", l.pkg, "package.json")); err != nil {
		return nil, &unavailableError{fmt.Sprintf("%s is not installed in %s (node_modules/%s is missing)", l.pkg, dir, l.pkg)}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, &unavailableError{"node is not on PATH"}
	}

	cmd := exec.Command(node, filepath.Join(dir, l.script), "--port", strconv.Itoa(port))
	cmd.Dir = dir
	s := &server{l: l, cmd: cmd, stderr: &TailBuffer{Max: stderrTail}, done: make(chan struct{})}
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
			if url, ok := strings.CutPrefix(sc.Text(), l.readyPrefix()); ok {
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
		return nil, fmt.Errorf("%s exited before it was ready: %v; stderr:\n%s", l.script, s.waitErr, orEmpty(s.stderr))
	case <-timer.C:
		_ = s.stop()
		return nil, fmt.Errorf("%s not ready after %v; stderr:\n%s", l.script, startTimeout, orEmpty(s.stderr))
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

// instance is a launcher started at most once per test process, on first use, and stopped by
// Stop.
type instance struct {
	l       launcher
	once    sync.Once
	mu      sync.Mutex
	started *server // nil until started successfully
	err     error   // why it could not be started
	stopped bool
}

// The emulators started by this test process.
var (
	fauxqs   = &instance{l: fauxqsLauncher}
	dynalite = &instance{l: dynaliteLauncher}
)

// endpoint starts the instance if need be and returns its URL. service names what tests wanted
// ("SQS") and env the variable that would point them elsewhere, for the skip or failure message.
func (in *instance) endpoint(tb testing.TB, service, env string) string {
	tb.Helper()
	in.once.Do(func() {
		s, err := in.l.start(0)
		in.mu.Lock()
		defer in.mu.Unlock()
		in.started, in.err = s, err
		if in.stopped && s != nil { // Stop ran before the start finished
			_ = s.stop()
		}
	})

	in.mu.Lock()
	s, err, isStopped := in.started, in.err, in.stopped
	in.mu.Unlock()

	switch {
	case err != nil:
		failStart(tb, in.l, service, env, err)
	case isStopped:
		tb.Fatalf("localstack: %s was already stopped (localstack.Stop runs after all tests)", in.l.pkg)
	}
	if exited, werr := s.exited(); exited {
		tb.Fatalf("localstack: %s (pid %d) exited unexpectedly: %v; stderr:\n%s", in.l.pkg, s.pid(), werr, orEmpty(s.stderr))
	}
	tb.Logf("localstack: %s = %s started by the harness at %s (pid %d)", service, in.l.pkg, s.url, s.pid())
	return s.url
}

// failStart ends a test whose emulator could not be started: a skip with instructions when a
// prerequisite is missing, a failure when CI is set (integration tests never skip silently in
// CI) or when the emulator itself failed.
func failStart(tb testing.TB, l launcher, service, env string, err error) {
	tb.Helper()
	var unavailable *unavailableError
	if !errors.As(err, &unavailable) {
		tb.Fatalf("localstack: start %s: %v", l.pkg, err)
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("localstack: CI is set, but there is no %s for the integration tests: %s. "+
			"Fix the CI job: install Node.js 20+ and run `npm ci` in localstack/ (`make test` does), "+
			"or set %s to a LocalStack endpoint.", service, unavailable.reason, env)
	}
	tb.Skipf("localstack: skipping integration test: %s. To enable: install Node.js 20+ and run "+
		"`cd localstack && npm ci` (or `make test`), or set %s to a LocalStack endpoint.",
		unavailable.reason, env)
}

// stop stops the instance, if it was started; later endpoint calls fail the test.
func (in *instance) stop() {
	in.mu.Lock()
	s := in.started
	in.stopped = true
	in.mu.Unlock()
	if s == nil {
		return
	}
	if err := s.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "localstack: %s (pid %d): %v\nstderr:\n%s", in.l.pkg, s.pid(), err, orEmpty(s.stderr))
	}
}

// launcherDir finds the directory holding the launchers: this source file's directory, which
// works from any package's tests; or, for binaries built with -trimpath, a localstack/ directory
// in the working directory or one of its parents.
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
