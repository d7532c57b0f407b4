// Package deploy_test checks that docker-compose.yml, the LocalStack init
// hook and deploy/config.json agree with each other. Docker itself is not
// needed: the compose file is loaded with compose-go, as docker compose does.
package deploy_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hookline/hookline/config"
)

func loadProject(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join("..", "docker-compose.yml")},
		cli.WithWorkingDirectory(".."), cli.WithEnv(kv), cli.WithName("hookline"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func mountAt(svc types.ServiceConfig, target string) *types.ServiceVolumeConfig {
	for i := range svc.Volumes {
		if svc.Volumes[i].Target == target {
			return &svc.Volumes[i]
		}
	}
	return nil
}

func TestComposeLocalStack(t *testing.T) {
	p := loadProject(t, map[string]string{"LOCALSTACK_AUTH_TOKEN": "tok-from-env"})
	ls, err := p.GetService("localstack")
	if err != nil {
		t.Fatal(err)
	}

	// SQS and Lambda, with the auth token passed through from the environment.
	services := strings.Split(deref(ls.Environment["SERVICES"]), ",")
	for _, want := range []string{"sqs", "lambda"} {
		if !slices.Contains(services, want) {
			t.Errorf("SERVICES = %v, want %s in it", services, want)
		}
	}
	if got := deref(ls.Environment["LOCALSTACK_AUTH_TOKEN"]); got != "tok-from-env" {
		t.Errorf("LOCALSTACK_AUTH_TOKEN = %q, want it passed through from the environment", got)
	}

	// The edge port is published on loopback only.
	var published bool
	for _, port := range ls.Ports {
		if port.Target == 4566 {
			published = true
			if port.HostIP != "127.0.0.1" || port.Published != "4566" {
				t.Errorf("port 4566 published as %s:%s, want 127.0.0.1:4566", port.HostIP, port.Published)
			}
		}
	}
	if !published {
		t.Error("port 4566 not published")
	}

	// The init hook directory, the binary and the config it names are mounted.
	hooks := mountAt(ls, "/etc/localstack/init/ready.d")
	if hooks == nil {
		t.Fatal("ready.d hooks not mounted")
	}
	if mountAt(ls, "/opt/hookline/hookline") == nil {
		t.Error("hookline binary not mounted at /opt/hookline/hookline")
	}
	cfgMount := mountAt(ls, "/opt/hookline/config.json")
	if cfgMount == nil {
		t.Fatal("config not mounted at /opt/hookline/config.json")
	}
	hook, err := os.ReadFile(filepath.Join(hooks.Source, "10-hookline-queues.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/opt/hookline/hookline queues create", "--config /opt/hookline/config.json", "--endpoint-url http://localhost:4566"} {
		if !strings.Contains(string(hook), want) {
			t.Errorf("init hook lacks %q", want)
		}
	}
	if info, err := os.Stat(filepath.Join(hooks.Source, "10-hookline-queues.sh")); err != nil || info.Mode()&0o111 == 0 {
		t.Errorf("init hook is not executable (LocalStack skips it): %v", err)
	}

	// The mounted config loads and points at this LocalStack, in its region.
	cfg, err := config.Load(cfgMount.Source, config.Sources{
		LookupEnv: func(string) (string, bool) { return "", false }, ReadFile: os.ReadFile,
	}, config.Overrides{})
	if err != nil {
		t.Fatalf("%s: %v", cfgMount.Source, err)
	}
	u, err := url.Parse(cfg.Queue.EndpointURL)
	if err != nil || u.Hostname() != "localstack" || u.Port() != "4566" {
		t.Errorf("config endpoint_url = %q, want http://localstack:4566 (the compose service)", cfg.Queue.EndpointURL)
	}
	if region := deref(ls.Environment["AWS_DEFAULT_REGION"]); cfg.Queue.Region != region {
		t.Errorf("config region %q, LocalStack AWS_DEFAULT_REGION %q", cfg.Queue.Region, region)
	}
}

func TestComposeWithoutToken(t *testing.T) {
	p := loadProject(t, nil)
	ls, err := p.GetService("localstack")
	if err != nil {
		t.Fatal(err)
	}
	if got := deref(ls.Environment["LOCALSTACK_AUTH_TOKEN"]); got != "" {
		t.Errorf("LOCALSTACK_AUTH_TOKEN = %q without one in the environment", got)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// The worker, ingest and receiver services run hookline with the same
// config, which points at this compose file's localstack and receiver.
func TestComposeHooklineServices(t *testing.T) {
	p := loadProject(t, nil)
	wantCommand := map[string]string{"worker": "worker", "ingest": "ingest", "receiver": "receive"}
	listen := map[string]string{}
	for name, sub := range wantCommand {
		svc, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		cmd := []string(svc.Command)
		if len(cmd) == 0 || cmd[0] != sub {
			t.Errorf("%s: command %v, want hookline %s", name, cmd, sub)
			continue
		}
		if i := slices.Index(cmd, "--config"); i < 0 || i+1 >= len(cmd) || mountAt(svc, cmd[i+1]) == nil {
			t.Errorf("%s: --config %v is not a mounted file", name, cmd)
		} else if src := mountAt(svc, cmd[i+1]).Source; filepath.Base(src) != "config.json" || filepath.Base(filepath.Dir(src)) != "deploy" {
			t.Errorf("%s: mounts %s, want deploy/config.json", name, src)
		}
		if i := slices.Index(cmd, "--listen"); i >= 0 && i+1 < len(cmd) {
			_, port, _ := strings.Cut(cmd[i+1], ":")
			listen[name] = port
			published := false
			for _, p := range svc.Ports {
				if fmt.Sprint(p.Target) == port && p.HostIP == "127.0.0.1" {
					published = true
				}
			}
			if !published {
				t.Errorf("%s: listens on %s but does not publish it on 127.0.0.1", name, port)
			}
		}
		if name != "receiver" {
			if _, ok := svc.DependsOn["localstack"]; !ok {
				t.Errorf("%s does not depend on localstack", name)
			}
			if deref(svc.Environment["AWS_REGION"]) == "" || deref(svc.Environment["AWS_ACCESS_KEY_ID"]) == "" {
				t.Errorf("%s: no AWS region or credentials in its environment", name)
			}
		}
	}

	cfg, err := config.Load(filepath.Join("config.json"), config.Sources{
		LookupEnv: func(string) (string, bool) { return "", false }, ReadFile: os.ReadFile,
	}, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	worker, _ := p.GetService("worker")
	if region := deref(worker.Environment["AWS_REGION"]); region != cfg.Queue.Region {
		t.Errorf("worker AWS_REGION %q, config region %q", region, cfg.Queue.Region)
	}
	for _, a := range cfg.Apps {
		for _, wh := range a.Webhooks {
			u, err := url.Parse(wh.URL)
			if err != nil || u.Hostname() != "receiver" || u.Port() != listen["receiver"] {
				t.Errorf("webhook %s: url %q, want the receiver service on port %s", wh.ID, wh.URL, listen["receiver"])
			}
		}
	}
}
