package localstack

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"net"
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

// The AWS Lambda Runtime Interface Emulator (RIE), pinned (DESIGN.md §8). `make tools` installs
// the same version: the Makefile reads RIEVersion from this file.
const (
	// RIEVersion is the pinned module version of aws-lambda-rie.
	RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"
	// RIEPackage is the aws-lambda-rie command's import path.
	RIEPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	// RIEFunctionName is the only function name the emulator serves: invoke
	// POST /2015-03-31/functions/function/invocations.
	RIEFunctionName = "function"
)

const (
	// rieBinary is the installed command's file name, in <repo>/.tools/bin.
	rieBinary = "aws-lambda-rie"
	// rieInstallTimeout bounds `go install` (a cold module download on a slow runner).
	rieInstallTimeout = 5 * time.Minute
	// rieBuildTimeout bounds building the handler.
	rieBuildTimeout = 3 * time.Minute
	// rieStartAttempts retries a start that lost a race for one of its two free ports.
	rieStartAttempts = 3
	// rieDialInterval is the pause between connection attempts while waiting for the emulator.
	rieDialInterval = 20 * time.Millisecond
)

// The emulator binary for this process: installed (or found) at most once.
var (
	rieOnce sync.Once
	riePath string // <repo>/.tools/bin/aws-lambda-rie, once available
	rieErr  error  // why it is not available
)

// RIEServer is a running Runtime Interface Emulator with one Lambda function, the Go handler RIE
// built. Invoke it with a real Lambda client (BaseEndpoint = Endpoint, function name
// RIEFunctionName) or a plain POST to Endpoint + "/2015-03-31/functions/function/invocations".
//
// The emulator differs from Lambda in ways tests must allow for (DESIGN.md §8):
//   - it serves only the function name "function" (RIEFunctionName);
//   - it ignores the invocation type (X-Amz-Invocation-Type: Event still runs the function and
//     returns its result) and the qualifier;
//   - it crashes on concurrent invokes: callers must invoke serially (one Invoke at a time per
//     RIEServer);
//   - it answers a function error with 200 and the error document ({"errorMessage":…,
//     "errorType":…}) as the response payload, but without X-Amz-Function-Error: a Lambda
//     client's InvokeOutput.FunctionError stays nil, so only the payload tells;
//   - it starts the function on the first invoke, not at start-up, so an init failure shows on
//     the first invoke.
type RIEServer struct {
	// Endpoint is the emulator's base URL, http://127.0.0.1:<port>.
	Endpoint string

	cmd *exec.Cmd
	out *outputBuffer

	done    chan struct{} // closed once the process has been waited for
	waitErr error         // valid after done is closed

	stopOnce sync.Once
	stopErr  error
}

// RIE builds the Go Lambda handler in handlerDir (a main package using
// github.com/aws/aws-lambda-go, built like for the provided.al2023 runtime: `go build -tags
// lambda.norpc`, for this machine), starts it under the AWS Lambda Runtime Interface Emulator on
// a loopback port, and stops both in tb.Cleanup. env entries ("KEY=value") are added to the
// emulator's environment, which it passes on to the function, e.g. "HOOKLINE_APP_SECRET=secret".
// The environment's AWS_* variables are replaced with dummy credentials test/test and region
// us-east-1, so the function never sees a developer's real credentials.
//
// The emulator is <repo>/.tools/bin/aws-lambda-rie at RIEVersion (`make tools`); when it is
// missing or another version, RIE installs it there with `go install`, once per test process.
// When it cannot be installed or run, RIE skips the test with instructions, or, when the CI
// environment variable is non-empty, fails it: integration tests never skip silently in CI.
//
// See RIEServer for how the emulator differs from Lambda; above all, invoke it serially.
func RIE(tb testing.TB, handlerDir string, env ...string) *RIEServer {
	tb.Helper()
	rieOnce.Do(func() { riePath, rieErr = ensureRIE() })
	if rieErr != nil {
		rieUnavailable(tb, rieErr)
	}

	dir := tb.TempDir()
	bootstrap := filepath.Join(dir, "bootstrap")
	start := time.Now()
	if err := buildHandler(handlerDir, bootstrap); err != nil {
		tb.Fatalf("localstack: build the Lambda handler in %s: %v", handlerDir, err)
	}
	built := time.Since(start)

	var s *RIEServer
	var errs []error
	for range rieStartAttempts {
		var err error
		if s, err = startRIE(riePath, bootstrap, dir, rieEnv(env)); err == nil {
			break
		}
		var unavailable *unavailableError
		if errors.As(err, &unavailable) {
			rieUnavailable(tb, err)
		}
		errs = append(errs, err) // most likely lost a race for a port: try again
	}
	if s == nil {
		tb.Fatalf("localstack: start aws-lambda-rie: %v", errors.Join(errs...))
	}
	tb.Cleanup(func() {
		if err := s.stop(); err != nil {
			tb.Logf("localstack: aws-lambda-rie (pid %d): %v; output:\n%s", s.cmd.Process.Pid, err, s.Output())
		}
	})
	tb.Logf("localstack: Lambda = aws-lambda-rie %s at %s (pid %d), handler %s (built in %v, started in %v)",
		RIEVersion, s.Endpoint, s.cmd.Process.Pid, handlerDir, built.Round(time.Millisecond),
		(time.Since(start) - built).Round(time.Millisecond))
	return s
}

// rieUnavailable skips the test, or fails it when CI is set, for an *unavailableError; it fails
// it for any other error.
func rieUnavailable(tb testing.TB, err error) {
	tb.Helper()
	var unavailable *unavailableError
	if !errors.As(err, &unavailable) {
		tb.Fatalf("localstack: aws-lambda-rie: %v", err)
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("localstack: CI is set, but the Lambda Runtime Interface Emulator is not available: %s. "+
			"Fix the CI job: run `make tools` before the tests, or give the tests access to the Go module "+
			"proxy (the harness runs `go install %s@%s`).", unavailable.reason, RIEPackage, RIEVersion)
	}
	tb.Skipf("localstack: skipping Lambda emulator test: %s. To enable: run `make tools` "+
		"(needs the Go module proxy), which installs aws-lambda-rie %s into .tools/bin.",
		unavailable.reason, RIEVersion)
}

// Output returns everything the emulator and the function wrote to stdout and stderr so far (all
// of it: the emulator is for short tests).
func (s *RIEServer) Output() string { return s.out.String() }

// WaitOutput waits until the output holds count non-overlapping occurrences of substr (count < 1
// counts as 1). It is woken by each write, never polls, and returns an error when ctx ends or
// the emulator exits first.
func (s *RIEServer) WaitOutput(ctx context.Context, substr string, count int) error {
	count = max(count, 1)
	for {
		n, changed := s.out.count(substr)
		if n >= count {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("localstack: aws-lambda-rie output has %d of %d %q: %w", n, count, substr, context.Cause(ctx))
		case <-s.done:
			if n, _ := s.out.count(substr); n >= count {
				return nil
			}
			return fmt.Errorf("localstack: aws-lambda-rie exited (%v) with %d of %d %q in its output", s.waitErr, n, count, substr)
		}
	}
}

// ensureRIE returns the path of aws-lambda-rie at RIEVersion in <repo>/.tools/bin, installing it
// there when it is missing or another version.
func ensureRIE() (string, error) {
	dir, err := launcherDir()
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(filepath.Dir(dir), ".tools", "bin")
	path := filepath.Join(binDir, rieBinary)
	if info, err := buildinfo.ReadFile(path); err == nil && info.Main.Version == RIEVersion {
		return path, nil
	}

	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", &unavailableError{fmt.Sprintf("%s is missing and go is not on PATH to install it", path)}
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	// Install into a directory of our own, then rename: another test process (go test ./... runs
	// packages in parallel) may be installing or running the same file.
	tmp, err := os.MkdirTemp(binDir, ".install-")
	if err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), rieInstallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "install", RIEPackage+"@"+RIEVersion)
	cmd.Dir = tmp // outside any module
	cmd.Env = append(os.Environ(), "GOBIN="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &unavailableError{fmt.Sprintf("`go install %s@%s` failed (%v):\n%s",
			RIEPackage, RIEVersion, err, strings.TrimSpace(string(out)))}
	}
	if err := os.Rename(filepath.Join(tmp, rieBinary), path); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	return path, nil
}

// buildHandler builds the main package in dir into out, for this machine, as for Lambda.
func buildHandler(dir, out string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), rieBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-tags", "lambda.norpc", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, strings.TrimSpace(string(b)))
	}
	return nil
}

// rieEnv is this process's environment without AWS_* (credentials, profiles, and
// AWS_LAMBDA_MAX_CONCURRENCY, which switches the emulator into another mode), plus dummy
// credentials and region, plus extra.
func rieEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1")
	return append(env, extra...)
}

// startRIE starts the emulator on two free loopback ports (its invoke API and the Runtime API
// the function polls; the latter defaults to the fixed 127.0.0.1:9001, which parallel test
// processes would fight over) and waits until the invoke API accepts connections.
func startRIE(path, bootstrap, dir string, env []string) (*RIEServer, error) {
	invokeAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	runtimeAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	// The emulator takes the function's command as its arguments after the flags; its working
	// directory becomes the function's (like /var/task on Lambda).
	cmd := exec.Command(path,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", runtimeAddr,
		bootstrap)
	cmd.Dir = dir
	cmd.Env = env
	s := &RIEServer{Endpoint: "http://" + invokeAddr, cmd: cmd, out: newOutputBuffer(), done: make(chan struct{})}
	// One writer for both: the function inherits these descriptors, so its output lands here.
	cmd.Stdout, cmd.Stderr = s.out, s.out
	// The function holds the output pipe too; do not let it keep Wait from returning.
	cmd.WaitDelay = stopTimeout
	if err := cmd.Start(); err != nil {
		return nil, &unavailableError{fmt.Sprintf("run %s: %v", path, err)}
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()

	deadline := time.Now().Add(startTimeout)
	ticker := time.NewTicker(rieDialInterval)
	defer ticker.Stop()
	for {
		conn, err := net.DialTimeout("tcp", invokeAddr, time.Second)
		if err == nil {
			_ = conn.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			_ = s.stop()
			return nil, fmt.Errorf("not accepting connections on %s after %v; output:\n%s", invokeAddr, startTimeout, s.out)
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("exited before it was ready: %v; output:\n%s", s.waitErr, s.out)
		case <-ticker.C:
		}
	}
}

// freeLoopbackAddr returns 127.0.0.1:<a port free a moment ago>.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().(*net.TCPAddr)
	_ = l.Close()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(addr.Port)), nil
}

// stop sends SIGTERM (the emulator then stops the function), waits, and kills it if it does not
// exit within stopTimeout.
func (s *RIEServer) stop() error {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		timer := time.NewTimer(stopTimeout)
		defer timer.Stop()
		select {
		case <-s.done:
			var exit *exec.ExitError
			if errors.As(s.waitErr, &exit) && !exit.Exited() { // killed by the SIGTERM itself
				return
			}
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

// outputBuffer is an io.Writer keeping everything written, safe for concurrent use, that wakes
// waiters on each write.
type outputBuffer struct {
	mu      sync.Mutex
	buf     []byte
	changed chan struct{} // closed and replaced by each write
}

func newOutputBuffer() *outputBuffer { return &outputBuffer{changed: make(chan struct{})} }

func (b *outputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	close(b.changed)
	b.changed = make(chan struct{})
	return len(p), nil
}

// count returns how many times substr occurs, and a channel closed by the next write.
func (b *outputBuffer) count(substr string) (int, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(string(b.buf), substr), b.changed
}

func (b *outputBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
