package deploy_test

// deploy/ecs: task definitions (RegisterTaskDefinition input), the worker
// service's scalable target and scaling policy (Application Auto Scaling
// RegisterScalableTarget and PutScalingPolicy inputs).
//
// The files are in the shape `aws ... --cli-input-json file://...` takes:
// lowerCamel member names for ECS, PascalCase for Application Auto Scaling
// (each service's own member names). The SDK's input types have no json
// tags, so encoding/json would take either spelling; decodeJSON adds the
// exact-spelling check per service on top of DisallowUnknownFields, and the
// SDK's own client-side validation runs on the result.

import (
	"context"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hookline/hookline/config"
)

// ecsCluster and workerService name the ECS cluster and the worker's
// service, as the scaling files address them.
const (
	ecsCluster    = "hookline"
	workerService = "hookline-worker"
	// fargateMaxStopTimeout is the longest stopTimeout Fargate allows.
	fargateMaxStopTimeout = 120
)

func loadTaskDefinition(t *testing.T, path string) *ecs.RegisterTaskDefinitionInput {
	t.Helper()
	var in ecs.RegisterTaskDefinitionInput
	if err := decodeJSON(render(t, path), &in, lowerCamel); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	client := ecs.New(ecs.Options{Region: region, Credentials: aws.AnonymousCredentials{}, HTTPClient: stubHTTP{}, Retryer: aws.NopRetryer{}})
	_, err := client.RegisterTaskDefinition(context.Background(), &in)
	sdkValidates(t, path, err)
	return &in
}

func TestECSTaskDefinitions(t *testing.T) {
	dockerfileConfig := ecsImageConfigPath(t)
	for _, tc := range []struct {
		path, role, defaultListen string
		// healthURL is what `hookline healthcheck` must GET: the
		// command's /healthz on its --listen port.
		healthPath string
	}{
		{"ecs/worker-task-definition.json", "worker", workerDefaultListen, "/healthz"},
		{"ecs/ingest-task-definition.json", "ingest", ingestDefaultListen, "/healthz"},
	} {
		t.Run(tc.role, func(t *testing.T) {
			td := loadTaskDefinition(t, tc.path)
			if got, want := aws.ToString(td.Family), "hookline-"+tc.role; got != want {
				t.Errorf("family %q, want %q", got, want)
			}
			if len(td.ContainerDefinitions) != 1 {
				t.Fatalf("%d containers, want 1", len(td.ContainerDefinitions))
			}
			c := td.ContainerDefinitions[0]
			args := c.Command
			if len(args) == 0 || args[0] != tc.role {
				t.Fatalf("command %v, want hookline %s", args, tc.role)
			}
			if p, _ := flagValue(args, "--config"); p != dockerfileConfig {
				t.Errorf("--config %q, want %s (where deploy/ecs/Dockerfile puts it)", p, dockerfileConfig)
			}

			// The config as this container loads it: its environment, and its
			// secrets present.
			env := map[string]string{}
			for _, kv := range c.Environment {
				env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
				if strings.Contains(strings.ToUpper(aws.ToString(kv.Name)), "SECRET") {
					t.Errorf("environment %s: secrets belong in \"secrets\" (Secrets Manager or SSM)", aws.ToString(kv.Name))
				}
			}
			for _, s := range c.Secrets {
				env[aws.ToString(s.Name)] = "from-" + aws.ToString(s.ValueFrom)
				if !secretARN.MatchString(aws.ToString(s.ValueFrom)) {
					t.Errorf("secret %s from %q: want a Secrets Manager secret or SSM parameter ARN of the account", aws.ToString(s.Name), aws.ToString(s.ValueFrom))
				}
			}
			cfg := loadConfig(t, env)
			requireAppSecrets(t, cfg, func(name string) bool {
				return slices.ContainsFunc(c.Secrets, func(s ecstypes.Secret) bool { return aws.ToString(s.Name) == name })
			})

			// ECS sends SIGTERM, waits stopTimeout, then SIGKILL: the drain
			// must end first.
			grace := gracePeriod(t, cfg, args)
			stop := time.Duration(aws.ToInt32(c.StopTimeout)) * time.Second
			if stop <= grace {
				t.Errorf("stopTimeout %s is not above the grace period %s (shutdown_grace_period / --grace-period)", stop, grace)
			}
			if aws.ToInt32(c.StopTimeout) > fargateMaxStopTimeout {
				t.Errorf("stopTimeout %d above Fargate's %d", aws.ToInt32(c.StopTimeout), fargateMaxStopTimeout)
			}

			// The port it listens on is the one mapped and health-checked.
			port := listenPort(t, args, tc.defaultListen)
			if len(c.PortMappings) != 1 || aws.ToInt32(c.PortMappings[0].ContainerPort) != atoi32(t, port) {
				t.Errorf("port mappings %v, want the --listen port %s", portsOf(c.PortMappings), port)
			}
			checkHealthCheck(t, c.HealthCheck, port, tc.healthPath)

			// Logs go to CloudWatch Logs in the queues' region.
			lc := c.LogConfiguration
			if lc == nil || lc.LogDriver != ecstypes.LogDriverAwslogs {
				t.Fatalf("log configuration %+v, want awslogs", lc)
			}
			for _, k := range []string{"awslogs-group", "awslogs-region", "awslogs-stream-prefix"} {
				if lc.Options[k] == "" {
					t.Errorf("awslogs option %s missing", k)
				}
			}
			if lc.Options["awslogs-region"] != cfg.Queue.Region {
				t.Errorf("awslogs-region %q, queue region %q", lc.Options["awslogs-region"], cfg.Queue.Region)
			}
			if env["AWS_REGION"] != "" && env["AWS_REGION"] != cfg.Queue.Region {
				t.Errorf("AWS_REGION %q, config region %q", env["AWS_REGION"], cfg.Queue.Region)
			}

			// Hardening: the image's non-root user, nothing writable.
			if !aws.ToBool(c.Essential) || !aws.ToBool(c.ReadonlyRootFilesystem) {
				t.Errorf("essential %v, readonlyRootFilesystem %v: want both", aws.ToBool(c.Essential), aws.ToBool(c.ReadonlyRootFilesystem))
			}
			if u := aws.ToString(c.User); u == "" || u == "0" || strings.HasPrefix(u, "0:") || u == "root" {
				t.Errorf("user %q: want the image's non-root user", u)
			}
			if lp := c.LinuxParameters; lp == nil || lp.Capabilities == nil || !slices.Equal(lp.Capabilities.Drop, []string{"ALL"}) {
				t.Error("capabilities: want drop [ALL]")
			}
			if !strings.Contains(aws.ToString(c.Image), ".dkr.ecr."+region+".amazonaws.com/hookline-ecs:") {
				t.Errorf("image %q: want the hookline-ecs image (deploy/ecs/Dockerfile) in the account's ECR", aws.ToString(c.Image))
			}

			// The roles have their policies in deploy/iam.
			if got := policyFileForRole(t, aws.ToString(td.TaskRoleArn)); got != "iam/"+tc.role+".json" {
				t.Errorf("task role %s: policy %s, want iam/%s.json", aws.ToString(td.TaskRoleArn), got, tc.role)
			}
			policyFileForRole(t, aws.ToString(td.ExecutionRoleArn))
			if !slices.Contains(td.RequiresCompatibilities, ecstypes.CompatibilityFargate) || td.NetworkMode != ecstypes.NetworkModeAwsvpc {
				t.Errorf("compatibilities %v, network mode %q: want FARGATE on awsvpc", td.RequiresCompatibilities, td.NetworkMode)
			}
		})
	}
}

// secretARN matches what ECS "secrets" take: a Secrets Manager secret or an
// SSM parameter of the account, in the region.
var secretARN = regexp.MustCompile(`^arn:aws:(secretsmanager:` + region + `:` + account + `:secret:|ssm:` + region + `:` + account + `:parameter/)[A-Za-z0-9/_+=.@-]+$`)

// requireAppSecrets checks that every app whose config has no secret gets
// HOOKLINE_APP_<ID>_SECRET from a secret store (has reports whether the
// container sets that name from one).
func requireAppSecrets(t *testing.T, cfg *config.Config, has func(name string) bool) {
	t.Helper()
	if len(cfg.Apps) == 0 {
		t.Fatal("the base config has no apps")
	}
	for _, a := range cfg.Apps {
		if name := config.SecretEnvName(a.ID); !has(name) {
			t.Errorf("app %s: %s is not set from a secret", a.ID, name)
		}
	}
}

// checkHealthCheck: `hookline healthcheck [--url URL]` (default the
// worker's http://127.0.0.1:9464/healthz) must GET the container's own
// health path on its --listen port.
func checkHealthCheck(t *testing.T, hc *ecstypes.HealthCheck, port, path string) {
	t.Helper()
	if hc == nil {
		t.Fatal("no health check")
	}
	cmd := hc.Command
	if len(cmd) < 3 || !slices.Equal(cmd[:3], []string{"CMD", "/hookline", "healthcheck"}) {
		t.Fatalf("health check %v, want [CMD /hookline healthcheck ...] (the image has no shell)", cmd)
	}
	raw, ok := flagValue(cmd[3:], "--url")
	if !ok {
		raw = "http://127.0.0.1" + workerDefaultListen + "/healthz"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() != "127.0.0.1" || u.Port() != port || u.Path != path {
		t.Errorf("health check URL %q, want http://127.0.0.1:%s%s", raw, port, path)
	}
	if i, to := aws.ToInt32(hc.Interval), aws.ToInt32(hc.Timeout); to <= 0 || to >= i {
		t.Errorf("health check timeout %d s, interval %d s: want 0 < timeout < interval", to, i)
	}
}

// ecsImageConfigPath is where deploy/ecs/Dockerfile puts the base config.
func ecsImageConfigPath(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("ecs/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "COPY" && f[1] == "config.json" {
			return f[2]
		}
	}
	t.Fatal("deploy/ecs/Dockerfile does not COPY config.json")
	return ""
}

func TestECSWorkerScaling(t *testing.T) {
	cfg := loadConfig(t, allSecrets(t))
	client := applicationautoscaling.New(applicationautoscaling.Options{Region: region, Credentials: aws.AnonymousCredentials{}, HTTPClient: stubHTTP{}, Retryer: aws.NopRetryer{}})

	const targetPath = "ecs/worker-scalable-target.json"
	var target applicationautoscaling.RegisterScalableTargetInput
	if err := decodeJSON(render(t, targetPath), &target, pascalCase); err != nil {
		t.Fatalf("%s: %v", targetPath, err)
	}
	_, err := client.RegisterScalableTarget(context.Background(), &target)
	sdkValidates(t, targetPath, err)

	const policyPath = "ecs/worker-scaling-policy.json"
	var policy applicationautoscaling.PutScalingPolicyInput
	if err := decodeJSON(render(t, policyPath), &policy, pascalCase); err != nil {
		t.Fatalf("%s: %v", policyPath, err)
	}
	_, err = client.PutScalingPolicy(context.Background(), &policy)
	sdkValidates(t, policyPath, err)

	wantResource := "service/" + ecsCluster + "/" + workerService
	for name, in := range map[string]struct {
		ns  aastypes.ServiceNamespace
		id  string
		dim aastypes.ScalableDimension
	}{
		"target": {target.ServiceNamespace, aws.ToString(target.ResourceId), target.ScalableDimension},
		"policy": {policy.ServiceNamespace, aws.ToString(policy.ResourceId), policy.ScalableDimension},
	} {
		if in.ns != aastypes.ServiceNamespaceEcs || in.id != wantResource || in.dim != aastypes.ScalableDimensionECSServiceDesiredCount {
			t.Errorf("%s scales %s %s %s, want ecs %s ecs:service:DesiredCount", name, in.ns, in.id, in.dim, wantResource)
		}
	}
	// The backlog per task divides by the running tasks: never none.
	if aws.ToInt32(target.MinCapacity) < 1 || aws.ToInt32(target.MaxCapacity) < aws.ToInt32(target.MinCapacity) {
		t.Errorf("capacity %d..%d, want 1 <= min <= max", aws.ToInt32(target.MinCapacity), aws.ToInt32(target.MaxCapacity))
	}

	if policy.PolicyType != aastypes.PolicyTypeTargetTrackingScaling {
		t.Fatalf("policy type %s, want TargetTrackingScaling", policy.PolicyType)
	}
	tt := policy.TargetTrackingScalingPolicyConfiguration
	if tt == nil || tt.CustomizedMetricSpecification == nil {
		t.Fatal("no customized metric")
	}
	// Each worker holds up to --max-inflight messages; a target above it
	// could never be reached by adding workers.
	if v := aws.ToFloat64(tt.TargetValue); v <= 0 || v > float64(workerMaxInFlight) {
		t.Errorf("target %v messages per task, want within (0, --max-inflight %d]", v, workerMaxInFlight)
	}

	// Metric math: (visible + in flight) / running tasks, the queue being the
	// config's main queue and the tasks the worker service's.
	byID := map[string]aastypes.TargetTrackingMetricDataQuery{}
	var returned []string
	for _, m := range tt.CustomizedMetricSpecification.Metrics {
		byID[aws.ToString(m.Id)] = m
		if aws.ToBool(m.ReturnData) {
			returned = append(returned, aws.ToString(m.Id))
		}
	}
	if len(returned) != 1 {
		t.Fatalf("queries returning data: %v, want exactly one", returned)
	}
	wantStat := map[string]struct{ ns, metric string }{
		"visible":  {"AWS/SQS", "ApproximateNumberOfMessagesVisible"},
		"inflight": {"AWS/SQS", "ApproximateNumberOfMessagesNotVisible"},
		"tasks":    {"ECS/ContainerInsights", "RunningTaskCount"},
	}
	for id, want := range wantStat {
		m, ok := byID[id]
		if !ok || m.MetricStat == nil || m.MetricStat.Metric == nil {
			t.Errorf("no metric %q", id)
			continue
		}
		metric := m.MetricStat.Metric
		if aws.ToString(metric.Namespace) != want.ns || aws.ToString(metric.MetricName) != want.metric {
			t.Errorf("%s: %s %s, want %s %s", id, aws.ToString(metric.Namespace), aws.ToString(metric.MetricName), want.ns, want.metric)
		}
		dims := map[string]string{}
		for _, d := range metric.Dimensions {
			dims[aws.ToString(d.Name)] = aws.ToString(d.Value)
		}
		if want.ns == "AWS/SQS" {
			if dims["QueueName"] != cfg.Queue.MainQueueName() || len(dims) != 1 {
				t.Errorf("%s: dimensions %v, want QueueName %s (the config's main queue)", id, dims, cfg.Queue.MainQueueName())
			}
		} else if dims["ClusterName"] != ecsCluster || dims["ServiceName"] != workerService || len(dims) != 2 {
			t.Errorf("%s: dimensions %v, want ClusterName %s, ServiceName %s", id, dims, ecsCluster, workerService)
		}
	}
	expr := strings.Join(strings.Fields(aws.ToString(byID[returned[0]].Expression)), "")
	if expr != "(visible+inflight)/tasks" {
		t.Errorf("expression %q, want (visible + inflight) / tasks", aws.ToString(byID[returned[0]].Expression))
	}
	if aws.ToInt32(tt.ScaleInCooldown) < aws.ToInt32(tt.ScaleOutCooldown) {
		t.Errorf("scale-in cooldown %d s shorter than scale-out %d s", aws.ToInt32(tt.ScaleInCooldown), aws.ToInt32(tt.ScaleOutCooldown))
	}
}

func portsOf(pm []ecstypes.PortMapping) []int32 {
	var out []int32
	for _, p := range pm {
		out = append(out, aws.ToInt32(p.ContainerPort))
	}
	return out
}
