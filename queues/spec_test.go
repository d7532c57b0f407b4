package queues

import (
	"strings"
	"testing"
	"time"
)

func TestWithDefaults(t *testing.T) {
	got := Spec{}.WithDefaults()
	want := Spec{
		Name:               "hookline-webhooks",
		DeadLetterName:     "hookline-webhooks-dlq",
		VisibilityTimeout:  60 * time.Second,
		MaxReceiveCount:    10,
		MaximumMessageSize: 262144,
		MessageRetention:   96 * time.Hour,
	}
	if got != want {
		t.Errorf("Spec{}.WithDefaults() = %+v, want %+v", got, want)
	}
	if got.MainQueueName() != "hookline-webhooks" || got.DeadLetterQueueName() != "hookline-webhooks-dlq" {
		t.Errorf("names = %q, %q", got.MainQueueName(), got.DeadLetterQueueName())
	}

	fifo := Spec{Name: "orders.fifo", FIFO: true}.WithDefaults()
	if fifo.MainQueueName() != "orders.fifo" || fifo.DeadLetterQueueName() != "orders-dlq.fifo" {
		t.Errorf("FIFO names = %q, %q; want orders.fifo, orders-dlq.fifo", fifo.MainQueueName(), fifo.DeadLetterQueueName())
	}

	kept := Spec{Name: "a", DeadLetterName: "b", VisibilityTimeout: time.Second, MaxReceiveCount: 3}.WithDefaults()
	if kept.Name != "a" || kept.DeadLetterName != "b" || kept.VisibilityTimeout != time.Second || kept.MaxReceiveCount != 3 {
		t.Errorf("WithDefaults overwrote set fields: %+v", kept)
	}
}

func TestValidate(t *testing.T) {
	ok := Spec{}.WithDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		name    string
		mutate  func(*Spec)
		wantErr string // substring: the field and the value
	}{
		{"name with dot", func(s *Spec) { s.Name = "hook.line" }, `Name "hook.line"`},
		{"name with space", func(s *Spec) { s.Name = "hook line" }, `Name "hook line"`},
		{"fifo suffix without FIFO", func(s *Spec) { s.Name = "q.fifo" }, `Name "q.fifo": ends in ".fifo" but FIFO is not set`},
		{"name too long", func(s *Spec) { s.Name = strings.Repeat("a", 81) }, `Name "aaaa`},
		{"fifo name too long with suffix", func(s *Spec) { s.FIFO = true; s.Name = strings.Repeat("a", 76) }, `must be 1 to 80 characters`},
		{"dlq same as main", func(s *Spec) { s.DeadLetterName = s.Name }, `DeadLetterName "hookline-webhooks": must differ`},
		{"dlq bad char", func(s *Spec) { s.DeadLetterName = "dlq/1" }, `DeadLetterName "dlq/1"`},
		{"negative visibility", func(s *Spec) { s.VisibilityTimeout = -time.Second }, `VisibilityTimeout -1s`},
		{"visibility over 12h", func(s *Spec) { s.VisibilityTimeout = 13 * time.Hour }, `VisibilityTimeout 13h0m0s`},
		{"visibility fraction", func(s *Spec) { s.VisibilityTimeout = 1500 * time.Millisecond }, `VisibilityTimeout 1.5s: must be whole seconds`},
		{"receive count over limit", func(s *Spec) { s.MaxReceiveCount = 1001 }, `MaxReceiveCount 1001`},
		{"receive count negative", func(s *Spec) { s.MaxReceiveCount = -1 }, `MaxReceiveCount -1`},
		{"message size too small", func(s *Spec) { s.MaximumMessageSize = 1023 }, `MaximumMessageSize 1023`},
		{"message size too big", func(s *Spec) { s.MaximumMessageSize = 1<<20 + 1 }, `MaximumMessageSize 1048577`},
		{"retention too short", func(s *Spec) { s.MessageRetention = 59 * time.Second }, `MessageRetention 59s`},
		{"retention too long", func(s *Spec) { s.MessageRetention = 15 * 24 * time.Hour }, `MessageRetention 360h0m0s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.mutate(&s)
			err := s.Validate()
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want error containing %q", s, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "queues: ") {
				t.Errorf("Validate error = %q, want it to start with \"queues: \" and contain %q", err, tt.wantErr)
			}
		})
	}
}
