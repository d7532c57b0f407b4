//go:build unix

package main

import (
	"os"
	"runtime"
	"syscall"
)

// peakRSS is the exited process's peak resident set size in bytes, from its
// rusage (ru_maxrss: KiB on Linux, bytes on macOS).
func peakRSS(st *os.ProcessState) int64 {
	ru, ok := st.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}
