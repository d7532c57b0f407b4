// Command hookline delivers Pusher-compatible webhooks through AWS SQS.
//
// One binary, several commands: "config check" validates a Sockudo
// config.json, "queues create" sets up the SQS queue pair, "dlq" inspects,
// redrives and purges the dead-letter queue. Run
// "hookline --help" for the list. main only maps errors to exit codes:
// 0 success, 1 failure, 2 bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "hookline: %v: shutting down (send it again to exit at once)\n", s)
		cancel()
		s = <-sigs
		fmt.Fprintf(os.Stderr, "hookline: %v again: exiting now\n", s)
		os.Exit(2)
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := runEnv(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv, hup: hup})
	cancel()
	os.Exit(code)
}

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError carries a specific exit code for an error already reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	return runEnv(ctx, args, &env{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: lookupEnv})
}

// runEnv runs the command line args with e's streams, environment and
// signals.
func runEnv(ctx context.Context, args []string, e *env) int {
	stderr := e.stderr
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(stderr, "hookline:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}
