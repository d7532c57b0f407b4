package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hookline/hookline/localstack"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100
// on every Linux architecture Go supports.
const userHZ = 100

// procCPU is the CPU time (user + system, all threads) the process pid has
// used so far, from /proc/<pid>/stat, in 10 ms ticks. It fails where there
// is no /proc.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// procPeakRSS is the peak resident set size of the running process pid, in
// bytes: VmHWM in /proc/<pid>/status. Unlike rusage's maxrss it starts
// afresh at exec: a child's maxrss starts from its parent's RSS, because Go
// starts children with vfork, so the parent's memory counts as the child's
// until exec.
func procPeakRSS(pid int) (int64, error) { return procStatusBytes(pid, "VmHWM") }

// procRSS is the resident set size of the running process pid, in bytes:
// VmRSS in /proc/<pid>/status.
func procRSS(pid int) (int64, error) { return procStatusBytes(pid, "VmRSS") }

// procStatusBytes is the field of /proc/<pid>/status given in kB, in bytes.
func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		v, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status: %s %q: %w", pid, field, v, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// machineCPU is the machine's busy and total CPU time so far, summed over
// all CPUs, in ticks, from the first line of /proc/stat ("cpu user nice
// system idle iowait irq softirq steal ..."); idle and iowait are not busy.
func machineCPU() (busy, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: first line %q", line)
	}
	for i, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i >= 8 { // guest and guest_nice are already counted in user and nice
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

// cpuSample is the CPU used so far by a contender, by this process (the
// proxy and the receiver) and by the whole machine.
type cpuSample struct {
	contender, harness time.Duration
	busy, total        int64 // machine ticks
}

func sampleCPU(pid int) (cpuSample, error) {
	var s cpuSample
	var err1, err2, err3 error
	s.contender, err1 = procCPU(pid)
	s.harness, err2 = procCPU(os.Getpid())
	s.busy, s.total, err3 = machineCPU()
	return s, errors.Join(err1, err2, err3)
}

// child is a running contender process.
type child struct {
	cmd     *exec.Cmd
	stderr  *localstack.TailBuffer
	exited  chan struct{} // closed once the process has been waited for
	waitErr error         // valid after exited is closed
}

func startChild(cmd *exec.Cmd) (*child, error) {
	c := &child{cmd: cmd, stderr: &localstack.TailBuffer{Max: 16 << 10}, exited: make(chan struct{})}
	cmd.Stdout = c.stderr
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM and waits up to grace, then kills the process. It
// returns the exit error, if any (a kill is one).
func (c *child) stop(grace time.Duration) error {
	select {
	case <-c.exited:
		return c.waitErr
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.exited:
		return c.waitErr
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("did not exit within %v of SIGTERM; killed", grace)
	}
}

// usage is the CPU time and peak RSS of the exited process (rusage; see
// procPeakRSS for why its peak RSS overstates a small child's).
func (c *child) usage() (cpu time.Duration, maxRSS int64, err error) {
	st := c.cmd.ProcessState
	if st == nil {
		return 0, 0, errors.New("process not waited for")
	}
	return st.UserTime() + st.SystemTime(), peakRSS(st), nil
}
