package reliability_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Scenario 11: a backlog of 1 000 000 events (100 a message) drained with
// the worker's RSS flat — its peak in the last third of the drain no higher
// than in the first third, with a little slack for the heap's own growth
// — and no goroutine growth.
func TestBacklogDrainsInFlatMemory(t *testing.T) {
	t.Parallel()
	const per = 100
	e := newEnv(t, envOptions{apps: []appSpec{{id: "a", hooks: []hookSpec{{name: "a"}}}}})
	messages := size(3000, 10000)
	e.fillBacklog("a", messages, per)
	start := time.Now()
	w := e.startWorker()
	type sample struct {
		rss        int64
		goroutines float64
	}
	var samples []sample
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			rss := procRSS(w.cmd.Process.Pid)
			g := w.metric("go_goroutines", "")
			if rss > 0 && g > 0 {
				samples = append(samples, sample{rss, g})
			}
		}
	})
	drain := e.waitDrained(size(2*time.Minute, 15*time.Minute), true)
	close(done)
	wg.Wait()
	dls := e.drainDLQ()
	if len(samples) < 6 {
		t.Fatalf("%d samples; the drain was too short to judge", len(samples))
	}
	third := len(samples) / 3
	peak := func(s []sample) (rss int64, g float64) {
		for _, x := range s {
			rss, g = max(rss, x.rss), max(g, x.goroutines)
		}
		return rss, g
	}
	rssFirst, gFirst := peak(samples[:third])
	rssLast, gLast := peak(samples[len(samples)-third:])
	r := e.account("11 backlog drained", drain, dls, fmt.Sprintf("%d messages of %d events; peak RSS first third %.1f MiB, last third %.1f MiB; goroutines %v then %v; %.0f events/s",
		messages, per, float64(rssFirst)/(1<<20), float64(rssLast)/(1<<20), gFirst, gLast, float64(messages*per)/time.Since(start).Seconds()))
	record(r)
	if r.lost != 0 || r.duplicates != 0 || len(dls) != 0 {
		t.Errorf("lost %d, duplicates %d, dead letters %d", r.lost, r.duplicates, len(dls))
	}
	if rssLast > rssFirst+rssFirst/4+8<<20 {
		t.Errorf("RSS grew while draining: peak %d MiB in the first third, %d MiB in the last", rssFirst>>20, rssLast>>20)
	}
	if gLast > gFirst+20 {
		t.Errorf("goroutines grew while draining: %v, then %v", gFirst, gLast)
	}
	w.term(20 * time.Second)
}

// fillBacklog puts messages envelopes of per events each on the main
// queue, straight through the emulator.
func (e *env) fillBacklog(app string, messages, per int) {
	e.t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for m := 0; m < messages; m += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for k := m; k < min(m+10, messages); k++ {
			var evs []string
			e.sentMu.Lock()
			for j := range per {
				marker := fmt.Sprintf("bl-%d-%d", k, j)
				e.sent[marker] = e.appHooks[app]
				evs = append(evs, fmt.Sprintf(`{"name":"member_added","channel":"presence-rel","user_id":%q,"time_ms":%d}`, marker, time.Now().UnixMilli()))
			}
			e.sentMu.Unlock()
			body := fmt.Sprintf(`{"v":1,"id":"bl-%d","app_id":%q,"events":[%s]}`, k, app, strings.Join(evs, ","))
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(k)), MessageBody: aws.String(body)})
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out, err := e.sqs.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(e.queues.Main.URL), Entries: entries})
			if err != nil || len(out.Failed) > 0 {
				e.t.Errorf("filling the backlog: %v %v", err, out)
			}
		})
	}
	wg.Wait()
}

// procRSS is a process's resident set in bytes (0 when unknown).
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
