package ingest_test

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hookline/hookline/ingest"
	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/producer"
	"github.com/hookline/hookline/queues"
)

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m)) }

// cutProxy forwards loopback TCP to target until cut: then it refuses new
// connections and drops the open ones, like an SQS outage.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(p.cutNow)
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

func (p *cutProxy) cutNow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// With the real producer and SQS unreachable, ingest answers 503 with
// Retry-After within its timeout, instead of hanging the sender.
func TestSQSOutageIs503(t *testing.T) {
	const region = "us-east-1"
	endpoint := localstack.SQSEndpoint(t)
	u, _ := url.Parse(endpoint)
	proxy := newCutProxy(t, u.Host)
	client := sqs.New(sqs.Options{
		Region: region, BaseEndpoint: aws.String("http://" + proxy.ln.Addr().String()),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	res, err := queues.Ensure(context.Background(), localstack.SQSClient(t, region),
		queues.Spec{Name: localstack.UniqueQueueName(t, "outage")}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	prod, err := producer.New(context.Background(), client, producer.Options{QueueURL: res.Main.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = prod.Close(ctx)
	})
	h, err := ingest.New(prod, ingest.Options{Config: testConfig(t), Timeout: time.Second, RetryAfter: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	if r := post(t, srv.URL+"/pusher", "key-1", "secret-1", "application/json", pusherBody); r.status != 200 {
		t.Fatalf("before the outage: %d %v", r.status, r.body)
	}
	proxy.cutNow()
	start := time.Now()
	r := post(t, srv.URL+"/pusher", "key-1", "secret-1", "application/json",
		`{"time_ms":1700000000000,"events":[{"name":"channel_vacated","channel":"presence-a"}]}`)
	if r.status != 503 || r.retryAfter != "4" {
		t.Errorf("during the outage: %d Retry-After %q, want 503 and 4 (%v)", r.status, r.retryAfter, r.body)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answered after %v; the timeout is 1 s", took)
	}
}
