// Package queues creates Hookline's SQS queues and keeps their settings from drifting: the logic
// behind `hookline queues create`.
//
// Ensure is idempotent. For the dead-letter queue first, then the main queue, it looks the queue up
// with GetQueueUrl; a missing queue is created with the desired attributes; an existing one has
// its attributes read back, compared one by one with the desired values, and only the drifted
// ones are set, each reported as a Change (old -> new). A second run reports nothing.
//
// The main queue gets a redrive policy to the dead-letter queue. Its maxReceiveCount (default 10)
// is a backstop for messages the worker cannot handle at all (crash loops, poison that kills the
// process), not the retry limit: the worker counts real delivery attempts itself, re-sends each
// retry as a new message and dead-letters on its own after max_attempts (DESIGN.md §4.3), so a
// message's receive count stays low and should never reach the backstop.
//
// Endpoints that do not support an optional attribute (SQS-managed encryption on fauxqs and some
// emulators; the FIFO throughput settings) do not make Ensure fail: the queue is left without
// it and a warning says so.
//
// The package does not read configuration: callers fill a Spec.
package queues

import (
	"fmt"
	"strings"
	"time"
)

// Defaults applied by Spec.WithDefaults.
const (
	DefaultName               = "hookline-webhooks"
	DefaultVisibilityTimeout  = 60 * time.Second
	DefaultMaxReceiveCount    = 10
	DefaultMaximumMessageSize = 256 << 10          // 262144 bytes: the limit older queues have, and the producer's cap
	DefaultMessageRetention   = 4 * 24 * time.Hour // the SQS default
	// DeadLetterRetention is the dead-letter queue's retention, always the SQS maximum (14 days),
	// so operators have the longest possible time to inspect and redrive.
	DeadLetterRetention = 14 * 24 * time.Hour
)

// SQS limits checked by Validate.
const (
	maxQueueNameLen       = 80                  // including ".fifo"
	maxVisibilityTimeout  = 12 * time.Hour      // SQS limit
	minMaximumMessageSize = 1024                // bytes, SQS limit
	maxMaximumMessageSize = 1 << 20             // bytes, SQS limit (1 MiB)
	minMessageRetention   = 60 * time.Second    // SQS limit
	maxMessageRetention   = 14 * 24 * time.Hour // SQS limit
	maxMaxReceiveCount    = 1000                // SQS limit
	fifoSuffix            = ".fifo"
	deadLetterSuffix      = "-dlq"
)

// Spec describes the queue pair Ensure creates or corrects. Zero fields take the defaults
// documented on each (see WithDefaults), so the zero Spec is Hookline's standard setup.
type Spec struct {
	// Name is the main queue's name without any ".fifo" suffix (one given is tolerated when FIFO
	// is set). Default "hookline-webhooks"; a FIFO queue is named Name+".fifo".
	Name string
	// DeadLetterName is the dead-letter queue's name without any ".fifo" suffix. Default
	// Name+"-dlq"; a FIFO dead-letter queue is named DeadLetterName+".fifo".
	DeadLetterName string
	// FIFO makes both queues FIFO queues (DESIGN.md §4.6), with DeduplicationScope=messageGroup,
	// FifoThroughputLimit=perMessageGroupId and ContentBasedDeduplication=false. It cannot be
	// changed on an existing queue: a FIFO queue is a different queue (its name ends in ".fifo").
	FIFO bool
	// VisibilityTimeout of the main queue, in whole seconds, at most 12 h. Default 60 s.
	VisibilityTimeout time.Duration
	// MaxReceiveCount is the redrive policy's maxReceiveCount: receives of one message before
	// SQS moves it to the dead-letter queue. A crash-loop backstop, not the retry limit (see the
	// package documentation). 1 to 1000; default 10.
	MaxReceiveCount int
	// MaximumMessageSize of both queues, in bytes, 1024 to 1048576. Default 262144, set
	// explicitly because new queues now default to 1 MiB.
	MaximumMessageSize int
	// MessageRetention of the main queue, in whole seconds, 60 s to 14 days. Default 4 days.
	// The dead-letter queue always keeps messages 14 days (DeadLetterRetention).
	MessageRetention time.Duration
	// DisableSSE leaves SQS-managed server-side encryption (SqsManagedSseEnabled) alone. By
	// default both queues are encrypted with it, unless a queue already uses a KMS key
	// (KmsMasterKeyId), which is then kept.
	DisableSSE bool
}

// WithDefaults returns s with every zero field set to its documented default. A trailing
// ".fifo" on a name is dropped when FIFO is set, so both spellings of a FIFO name work.
func (s Spec) WithDefaults() Spec {
	if s.FIFO {
		s.Name = strings.TrimSuffix(s.Name, fifoSuffix)
		s.DeadLetterName = strings.TrimSuffix(s.DeadLetterName, fifoSuffix)
	}
	if s.Name == "" {
		s.Name = DefaultName
	}
	if s.DeadLetterName == "" {
		s.DeadLetterName = s.Name + deadLetterSuffix
	}
	if s.VisibilityTimeout == 0 {
		s.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if s.MaxReceiveCount == 0 {
		s.MaxReceiveCount = DefaultMaxReceiveCount
	}
	if s.MaximumMessageSize == 0 {
		s.MaximumMessageSize = DefaultMaximumMessageSize
	}
	if s.MessageRetention == 0 {
		s.MessageRetention = DefaultMessageRetention
	}
	return s
}

// MainQueueName is the main queue's full SQS name: Name, plus ".fifo" for FIFO queues.
func (s Spec) MainQueueName() string { return s.queueName(s.Name) }

// DeadLetterQueueName is the dead-letter queue's full SQS name: DeadLetterName, plus ".fifo"
// for FIFO queues.
func (s Spec) DeadLetterQueueName() string { return s.queueName(s.DeadLetterName) }

func (s Spec) queueName(base string) string {
	if s.FIFO {
		return base + fifoSuffix
	}
	return base
}

// Validate reports the first field of s that SQS would reject, naming the field and its value.
// Call it on the result of WithDefaults; Ensure does both.
func (s Spec) Validate() error {
	if err := validateName("Name", s.Name, s.FIFO); err != nil {
		return err
	}
	if err := validateName("DeadLetterName", s.DeadLetterName, s.FIFO); err != nil {
		return err
	}
	if s.Name == s.DeadLetterName {
		return fmt.Errorf("queues: DeadLetterName %q: must differ from Name", s.DeadLetterName)
	}
	if err := validateSeconds("VisibilityTimeout", s.VisibilityTimeout, 0, maxVisibilityTimeout); err != nil {
		return err
	}
	if s.MaxReceiveCount < 1 || s.MaxReceiveCount > maxMaxReceiveCount {
		return fmt.Errorf("queues: MaxReceiveCount %d: must be between 1 and %d", s.MaxReceiveCount, maxMaxReceiveCount)
	}
	if s.MaximumMessageSize < minMaximumMessageSize || s.MaximumMessageSize > maxMaximumMessageSize {
		return fmt.Errorf("queues: MaximumMessageSize %d: must be between %d and %d bytes",
			s.MaximumMessageSize, minMaximumMessageSize, maxMaximumMessageSize)
	}
	return validateSeconds("MessageRetention", s.MessageRetention, minMessageRetention, maxMessageRetention)
}

func validateName(field, name string, fifo bool) error {
	if !fifo && strings.HasSuffix(name, fifoSuffix) {
		return fmt.Errorf("queues: %s %q: ends in %q but FIFO is not set", field, name, fifoSuffix)
	}
	full := name
	if fifo {
		full += fifoSuffix
	}
	if name == "" || len(full) > maxQueueNameLen {
		return fmt.Errorf("queues: %s %q: the queue name %q must be 1 to %d characters", field, name, full, maxQueueNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("queues: %s %q: may contain only letters, digits, hyphens and underscores (found %q)", field, name, r)
		}
	}
	return nil
}

func validateSeconds(field string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return fmt.Errorf("queues: %s %v: must be between %v and %v", field, d, lo, hi)
	}
	if d%time.Second != 0 {
		return fmt.Errorf("queues: %s %v: must be whole seconds", field, d)
	}
	return nil
}
