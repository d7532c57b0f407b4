package deploy_test

// deploy/k8s/base: one Kustomize base with the worker and ingest. Each
// resource is decoded strictly into its real API type (k8s.io/api,
// prometheus-operator's ServiceMonitor) and cross-checked with the
// commands' flags and the config the base mounts.
//
// KEDA's own API module (github.com/kedacore/keda/v2 v2.18.0) is served by
// the module proxy but its apis/keda/v1alpha1 package does not compile
// against controller-runtime v0.25 (which k8s.io v0.37 and
// prometheus-operator v0.95 bring in): its webhooks call
// ctrl.NewWebhookManagedBy with the old signature. So ScaledObject and
// TriggerAuthentication decode into kedaScaledObject and
// kedaTriggerAuthentication below, which mirror KEDA v2.18's v1alpha1
// ScaledObjectSpec and TriggerAuthenticationSpec field for field (the
// same json names; providers we do not use are kept as raw JSON so that
// they decode, and the test rejects them).

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const k8sBase = "k8s/base"

// kustomization mirrors the fields of kustomize's Kustomization that the
// base uses (kustomize.config.k8s.io/v1beta1); anything else fails to
// decode, so a field added to the base must be added here, with a check.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
		IncludeTemplates bool              `json:"includeTemplates,omitempty"`
	} `json:"labels"`
	Resources          []string `json:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `json:"name"`
		Files []string `json:"files"`
	} `json:"configMapGenerator"`
}

// KEDA v2.18 keda.sh/v1alpha1, mirrored (see the file comment).
type kedaScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              kedaScaledObjectSpec `json:"spec"`
	Status            json.RawMessage      `json:"status,omitempty"`
}

type kedaScaledObjectSpec struct {
	ScaleTargetRef        *kedaScaleTarget   `json:"scaleTargetRef"`
	PollingInterval       *int32             `json:"pollingInterval,omitempty"`
	InitialCooldownPeriod *int32             `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod        *int32             `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount      *int32             `json:"idleReplicaCount,omitempty"`
	MinReplicaCount       *int32             `json:"minReplicaCount,omitempty"`
	MaxReplicaCount       *int32             `json:"maxReplicaCount,omitempty"`
	Advanced              *kedaAdvanced      `json:"advanced,omitempty"`
	Triggers              []kedaScaleTrigger `json:"triggers"`
	Fallback              *struct {
		FailureThreshold int32  `json:"failureThreshold"`
		Replicas         int32  `json:"replicas"`
		Behavior         string `json:"behavior,omitempty"`
	} `json:"fallback,omitempty"`
}

type kedaAdvanced struct {
	HorizontalPodAutoscalerConfig *struct {
		Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
		Name     string                                         `json:"name,omitempty"`
	} `json:"horizontalPodAutoscalerConfig,omitempty"`
	RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
	ScalingModifiers              struct {
		Formula          string                         `json:"formula,omitempty"`
		Target           string                         `json:"target,omitempty"`
		ActivationTarget string                         `json:"activationTarget,omitempty"`
		MetricType       autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
	} `json:"scalingModifiers,omitempty"`
}

type kedaScaleTarget struct {
	Name                   string `json:"name"`
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

type kedaScaleTrigger struct {
	Type              string            `json:"type"`
	Name              string            `json:"name,omitempty"`
	UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string `json:"metadata"`
	AuthenticationRef *struct {
		Name string `json:"name"`
		Kind string `json:"kind,omitempty"`
	} `json:"authenticationRef,omitempty"`
	MetricType autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

type kedaTriggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		PodIdentity *struct {
			Provider              string  `json:"provider"`
			IdentityID            *string `json:"identityId,omitempty"`
			IdentityTenantID      *string `json:"identityTenantId,omitempty"`
			IdentityAuthorityHost *string `json:"identityAuthorityHost,omitempty"`
			RoleArn               *string `json:"roleArn,omitempty"`
			IdentityOwner         *string `json:"identityOwner,omitempty"`
		} `json:"podIdentity,omitempty"`
		SecretTargetRef          json.RawMessage `json:"secretTargetRef,omitempty"`
		ConfigMapTargetRef       json.RawMessage `json:"configMapTargetRef,omitempty"`
		Env                      json.RawMessage `json:"env,omitempty"`
		HashiCorpVault           json.RawMessage `json:"hashiCorpVault,omitempty"`
		AzureKeyVault            json.RawMessage `json:"azureKeyVault,omitempty"`
		GCPSecretManager         json.RawMessage `json:"gcpSecretManager,omitempty"`
		AwsSecretManager         json.RawMessage `json:"awsSecretManager,omitempty"`
		BoundServiceAccountToken json.RawMessage `json:"boundServiceAccountToken,omitempty"`
	} `json:"spec"`
	Status json.RawMessage `json:"status,omitempty"`
}

// awsSQSTriggerKeys are the aws-sqs-queue scaler's metadata keys (KEDA
// v2.18); identityOwner there is deprecated in favour of the
// TriggerAuthentication.
var awsSQSTriggerKeys = []string{"queueURL", "queueURLFromEnv", "queueLength", "activationQueueLength", "awsRegion", "awsEndpoint", "scaleOnInFlight", "scaleOnDelayed"}

// decodeK8s decodes one YAML document strictly, as the API server does:
// unknown and duplicate fields are errors, names are case-sensitive.
func decodeK8s(doc []byte, v any) error {
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return err
	}
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// k8sObjects are the base's resources by kind and name.
type k8sObjects struct {
	deployments     map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	serviceAccounts map[string]*corev1.ServiceAccount
	pdbs            map[string]*policyv1.PodDisruptionBudget
	serviceMonitors map[string]*monitoringv1.ServiceMonitor
	scaledObjects   map[string]*kedaScaledObject
	triggerAuths    map[string]*kedaTriggerAuthentication
}

func loadKustomization(t *testing.T) *kustomization {
	t.Helper()
	var k kustomization
	if err := decodeK8s(render(t, filepath.Join(k8sBase, "kustomization.yaml")), &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	return &k
}

func loadBase(t *testing.T) *k8sObjects {
	t.Helper()
	o := &k8sObjects{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		serviceAccounts: map[string]*corev1.ServiceAccount{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		serviceMonitors: map[string]*monitoringv1.ServiceMonitor{}, scaledObjects: map[string]*kedaScaledObject{},
		triggerAuths: map[string]*kedaTriggerAuthentication{},
	}
	for _, res := range loadKustomization(t).Resources {
		data := render(t, filepath.Join(k8sBase, res))
		for i, doc := range strings.Split(string(data), "\n---\n") {
			where := fmt.Sprintf("%s document %d", res, i)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			var obj interface{ GetName() string }
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				obj = put(o.deployments, &appsv1.Deployment{})
			case "v1 Service":
				obj = put(o.services, &corev1.Service{})
			case "v1 ServiceAccount":
				obj = put(o.serviceAccounts, &corev1.ServiceAccount{})
			case "policy/v1 PodDisruptionBudget":
				obj = put(o.pdbs, &policyv1.PodDisruptionBudget{})
			case "monitoring.coreos.com/v1 ServiceMonitor":
				obj = put(o.serviceMonitors, &monitoringv1.ServiceMonitor{})
			case "keda.sh/v1alpha1 ScaledObject":
				obj = put(o.scaledObjects, &kedaScaledObject{})
			case "keda.sh/v1alpha1 TriggerAuthentication":
				obj = put(o.triggerAuths, &kedaTriggerAuthentication{})
			default:
				t.Fatalf("%s: %s %s is not a kind this test checks", where, tm.APIVersion, tm.Kind)
			}
			if err := decodeK8s([]byte(doc), obj); err != nil {
				t.Fatalf("%s (%s): %v", where, tm.Kind, err)
			}
			if obj.GetName() == "" {
				t.Fatalf("%s: no metadata.name", where)
			}
		}
	}
	// put registered pointers before decoding; re-key them by name now.
	rekey(t, o.deployments)
	rekey(t, o.services)
	rekey(t, o.serviceAccounts)
	rekey(t, o.pdbs)
	rekey(t, o.serviceMonitors)
	rekey(t, o.scaledObjects)
	rekey(t, o.triggerAuths)
	return o
}

// put files v under a temporary unique key; rekey moves it under its name
// once decoded.
func put[T any](m map[string]*T, v *T) *T {
	m[fmt.Sprintf("\x00%d", len(m))] = v
	return v
}

func rekey[T any, P interface {
	*T
	GetName() string
}](t *testing.T, m map[string]*T) {
	t.Helper()
	for k, v := range m {
		delete(m, k)
		name := P(v).GetName()
		if _, dup := m[name]; dup {
			t.Fatalf("two objects of a kind named %s", name)
		}
		m[name] = v
	}
}

// The kustomization lists every resource file of the base and nothing
// else, and generates the ConfigMap from the config this test loads.
func TestKustomization(t *testing.T) {
	k := loadKustomization(t)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("%s %s, want kustomize.config.k8s.io/v1beta1 Kustomization", k.APIVersion, k.Kind)
	}
	files, err := filepath.Glob(filepath.Join(k8sBase, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			want = append(want, b)
		}
	}
	got := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("resources %v, want the base's files %v", got, want)
	}
	if len(k.ConfigMapGenerator) != 1 || k.ConfigMapGenerator[0].Name != configMapName ||
		!slices.Equal(k.ConfigMapGenerator[0].Files, []string{filepath.Base(baseConfigPath)}) {
		t.Errorf("configMapGenerator %+v, want %s from %s", k.ConfigMapGenerator, configMapName, filepath.Base(baseConfigPath))
	}
	for _, l := range k.Labels {
		if l.IncludeSelectors {
			t.Error("labels: includeSelectors would change the Deployments' immutable selectors")
		}
	}
	others, _ := filepath.Glob(filepath.Join(k8sBase, "*"))
	for _, f := range others {
		if b := filepath.Base(f); !strings.HasSuffix(b, ".yaml") && b != filepath.Base(baseConfigPath) {
			t.Errorf("%s: neither a resource nor the generated ConfigMap's source", f)
		}
	}
}

const configMapName = "hookline-config"

func TestK8sDeployments(t *testing.T) {
	o := loadBase(t)
	for _, tc := range []struct {
		name, role, defaultListen string
		liveness, readiness       string
	}{
		{"hookline-worker", "worker", workerDefaultListen, "/healthz", "/readyz"},
		{"hookline-ingest", "ingest", ingestDefaultListen, "/healthz", "/healthz"},
	} {
		t.Run(tc.role, func(t *testing.T) {
			d := o.deployments[tc.name]
			if d == nil {
				t.Fatalf("no Deployment %s", tc.name)
			}
			pod := d.Spec.Template
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
				t.Errorf("selector %v does not match the pod labels %v", d.Spec.Selector, pod.Labels)
			}
			if len(pod.Spec.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
			}
			c := pod.Spec.Containers[0]
			if len(c.Command) != 0 {
				t.Errorf("command %v replaces the image's /hookline entrypoint; use args", c.Command)
			}
			args := c.Args
			if len(args) == 0 || args[0] != tc.role {
				t.Fatalf("args %v, want hookline %s", args, tc.role)
			}

			// The config: the generated ConfigMap, mounted where --config
			// points, loaded with this container's environment.
			cfgPath, _ := flagValue(args, "--config")
			checkConfigMount(t, pod.Spec, c, cfgPath)
			env := map[string]string{}
			secretRefs := map[string]bool{}
			for _, e := range c.Env {
				switch {
				case e.ValueFrom == nil:
					env[e.Name] = e.Value
					if strings.Contains(e.Name, "SECRET") {
						t.Errorf("env %s has a literal value; secrets come from a Secret", e.Name)
					}
				case e.ValueFrom.SecretKeyRef != nil:
					env[e.Name] = "from-secret"
					secretRefs[e.Name] = true
				}
			}
			cfg := loadConfig(t, env)
			requireAppSecrets(t, cfg, func(name string) bool { return secretRefs[name] })

			// SIGTERM, then SIGKILL after terminationGracePeriodSeconds (the
			// preStop hook's time included): the drain must fit.
			grace := gracePeriod(t, cfg, args)
			tgps := time.Duration(ptrOr(pod.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
			preStop := time.Duration(0)
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
				preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			}
			if tgps <= grace+preStop {
				t.Errorf("terminationGracePeriodSeconds %s is not above the grace period %s + preStop %s", tgps, grace, preStop)
			}

			// Probes on the --listen port: liveness /healthz (never SQS),
			// readiness the command's readiness path.
			port := listenPort(t, args, tc.defaultListen)
			checkProbe(t, "liveness", c.LivenessProbe, c, port, tc.liveness)
			checkProbe(t, "readiness", c.ReadinessProbe, c, port, tc.readiness)
			if c.StartupProbe != nil {
				checkProbe(t, "startup", c.StartupProbe, c, port, tc.liveness)
			}

			// Resources and hardening.
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
			}
			psc, sc := pod.Spec.SecurityContext, c.SecurityContext
			if psc == nil || !ptrOr(psc.RunAsNonRoot, false) || ptrOr(psc.RunAsUser, 0) == 0 {
				t.Error("pod securityContext: want runAsNonRoot and a non-zero runAsUser")
			}
			if sc == nil || !ptrOr(sc.ReadOnlyRootFilesystem, false) || ptrOr(sc.AllowPrivilegeEscalation, true) ||
				sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Error("container securityContext: want readOnlyRootFilesystem, no privilege escalation, drop ALL")
			}

			// The identity: a ServiceAccount of the base whose IAM role has
			// this command's policy.
			sa := o.serviceAccounts[pod.Spec.ServiceAccountName]
			if sa == nil {
				t.Fatalf("serviceAccountName %q is not in the base", pod.Spec.ServiceAccountName)
			}
			if got := policyFileForRole(t, sa.Annotations["eks.amazonaws.com/role-arn"]); got != "iam/"+tc.role+".json" {
				t.Errorf("ServiceAccount %s: policy %s, want iam/%s.json", sa.Name, got, tc.role)
			}

			// A PodDisruptionBudget selects these pods.
			var pdbs int
			for _, p := range o.pdbs {
				s, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
				if err == nil && s.Matches(labels.Set(pod.Labels)) {
					pdbs++
				}
			}
			if pdbs != 1 {
				t.Errorf("%d PodDisruptionBudgets select the pods, want 1", pdbs)
			}

			// A Service exposes the port, and a ServiceMonitor scrapes
			// /metrics through the Service's port name.
			svc := serviceFor(t, o, pod)
			checkServiceMonitor(t, o, svc, c, port)
		})
	}
}

func checkConfigMount(t *testing.T, spec corev1.PodSpec, c corev1.Container, cfgPath string) {
	t.Helper()
	if filepath.Base(cfgPath) != filepath.Base(baseConfigPath) {
		t.Errorf("--config %q, want the ConfigMap's %s", cfgPath, filepath.Base(baseConfigPath))
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath != filepath.Dir(cfgPath) {
			continue
		}
		if m.MountPath != configMountDir || !m.ReadOnly {
			t.Errorf("config mounted at %s (read-only %v), want %s read-only", m.MountPath, m.ReadOnly, configMountDir)
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == configMapName && len(v.ConfigMap.Items) == 0 {
				return
			}
		}
	}
	t.Errorf("--config %s is not in a mount of the ConfigMap %s", cfgPath, configMapName)
}

func checkProbe(t *testing.T, kind string, p *corev1.Probe, c corev1.Container, port, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s probe: want an HTTP GET", kind)
		return
	}
	if p.HTTPGet.Path != path || containerPort(t, c, p.HTTPGet.Port) != port {
		t.Errorf("%s probe GET %s on %s, want %s on %s", kind, p.HTTPGet.Path, p.HTTPGet.Port.String(), path, port)
	}
	if p.TimeoutSeconds != 0 && p.PeriodSeconds != 0 && p.TimeoutSeconds >= p.PeriodSeconds {
		t.Errorf("%s probe: timeout %d s not below the period %d s", kind, p.TimeoutSeconds, p.PeriodSeconds)
	}
}

// containerPort resolves a port number or name of the container.
func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString) string {
	t.Helper()
	if p.Type == intstr.Int {
		return strconv.Itoa(p.IntValue())
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return strconv.Itoa(int(cp.ContainerPort))
		}
	}
	t.Errorf("container %s has no port named %q", c.Name, p.StrVal)
	return ""
}

func serviceFor(t *testing.T, o *k8sObjects, pod corev1.PodTemplateSpec) *corev1.Service {
	t.Helper()
	var found *corev1.Service
	for _, s := range o.services {
		if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			if found != nil {
				t.Errorf("Services %s and %s both select the pods", found.Name, s.Name)
			}
			found = s
		}
	}
	if found == nil {
		t.Fatal("no Service selects the pods")
	}
	return found
}

func checkServiceMonitor(t *testing.T, o *k8sObjects, svc *corev1.Service, c corev1.Container, port string) {
	t.Helper()
	var targetOK bool
	for _, sp := range svc.Spec.Ports {
		if containerPort(t, c, sp.TargetPort) == port {
			targetOK = true
		}
	}
	if !targetOK {
		t.Errorf("Service %s has no port to %s", svc.Name, port)
	}
	var monitors int
	for _, sm := range o.serviceMonitors {
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(svc.Labels)) {
			continue
		}
		monitors++
		for _, ep := range sm.Spec.Endpoints {
			if ep.Path != "/metrics" {
				t.Errorf("ServiceMonitor %s scrapes %q, want /metrics", sm.Name, ep.Path)
			}
			i := slices.IndexFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == ep.Port })
			if i < 0 || containerPort(t, c, svc.Spec.Ports[i].TargetPort) != port {
				t.Errorf("ServiceMonitor %s: port %q is not the Service %s's port to %s", sm.Name, ep.Port, svc.Name, port)
			}
		}
	}
	if monitors != 1 {
		t.Errorf("%d ServiceMonitors select the Service %s, want 1", monitors, svc.Name)
	}
}

// KEDA scales the worker on the config's main queue, counting the messages
// in flight and not the delayed ones, through a least-privilege role.
func TestK8sKEDA(t *testing.T) {
	o := loadBase(t)
	cfg := loadConfig(t, allSecrets(t))
	so := o.scaledObjects["hookline-worker"]
	if so == nil || len(o.scaledObjects) != 1 {
		t.Fatalf("ScaledObjects %v, want hookline-worker", keys(o.scaledObjects))
	}
	ref := so.Spec.ScaleTargetRef
	if ref == nil || ref.Name != "hookline-worker" || ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" {
		t.Errorf("scaleTargetRef %+v, want the Deployment hookline-worker", ref)
	} else if d := o.deployments[ref.Name]; d == nil {
		t.Errorf("scaleTargetRef %s is not a Deployment of the base", ref.Name)
	} else if d.Spec.Replicas != nil {
		t.Error("the worker Deployment sets replicas: every apply would fight KEDA")
	}
	if ptrOr(so.Spec.MinReplicaCount, 0) < 1 || ptrOr(so.Spec.MaxReplicaCount, 100) < ptrOr(so.Spec.MinReplicaCount, 0) {
		t.Errorf("replicas %d..%d, want 1 <= min <= max", ptrOr(so.Spec.MinReplicaCount, 0), ptrOr(so.Spec.MaxReplicaCount, 100))
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "aws-sqs-queue" {
		t.Fatalf("triggers %+v, want one aws-sqs-queue", so.Spec.Triggers)
	}
	tr := so.Spec.Triggers[0]
	for k := range tr.Metadata {
		if !slices.Contains(awsSQSTriggerKeys, k) {
			t.Errorf("trigger metadata %q is not an aws-sqs-queue key", k)
		}
	}
	md := tr.Metadata
	if u, err := url.Parse(md["queueURL"]); err != nil || md["queueURL"] != sqsQueueURL(cfg.Queue.MainQueueName()) {
		t.Errorf("queueURL %q, want %s (the config's main queue) (%v)", md["queueURL"], sqsQueueURL(cfg.Queue.MainQueueName()), err)
	} else if u.Hostname() != "sqs."+cfg.Queue.Region+".amazonaws.com" {
		t.Errorf("queueURL %q is not in the config's region %s", md["queueURL"], cfg.Queue.Region)
	}
	if md["awsRegion"] != cfg.Queue.Region {
		t.Errorf("awsRegion %q, config region %q", md["awsRegion"], cfg.Queue.Region)
	}
	// In flight counted (KEDA's default, stated): each worker holds up to
	// --max-inflight messages SQS counts as in flight. Delayed (retry
	// envelopes waiting out their backoff) not.
	if md["scaleOnInFlight"] != "true" {
		t.Errorf("scaleOnInFlight %q, want \"true\"", md["scaleOnInFlight"])
	}
	if v, ok := md["scaleOnDelayed"]; ok && v != "false" {
		t.Errorf("scaleOnDelayed %q, want false", v)
	}
	if n, err := strconv.Atoi(md["queueLength"]); err != nil || n <= 0 || n > workerMaxInFlight {
		t.Errorf("queueLength %q, want within (0, --max-inflight %d]", md["queueLength"], workerMaxInFlight)
	}

	if tr.AuthenticationRef == nil || (tr.AuthenticationRef.Kind != "" && tr.AuthenticationRef.Kind != "TriggerAuthentication") {
		t.Fatalf("authenticationRef %+v, want a TriggerAuthentication", tr.AuthenticationRef)
	}
	ta := o.triggerAuths[tr.AuthenticationRef.Name]
	if ta == nil {
		t.Fatalf("TriggerAuthentication %q not in the base", tr.AuthenticationRef.Name)
	}
	pi := ta.Spec.PodIdentity
	if pi == nil || pi.Provider != "aws" {
		t.Fatalf("podIdentity %+v, want provider aws", pi)
	}
	if pi.RoleArn != nil && pi.IdentityOwner != nil {
		t.Error("podIdentity: roleArn and identityOwner are mutually exclusive")
	}
	if got := policyFileForRole(t, ptrOr(pi.RoleArn, "")); got != "iam/keda-scaler.json" {
		t.Errorf("KEDA's role: policy %s, want iam/keda-scaler.json", got)
	}
	s := ta.Spec
	for name, raw := range map[string]json.RawMessage{"secretTargetRef": s.SecretTargetRef, "configMapTargetRef": s.ConfigMapTargetRef,
		"env": s.Env, "hashiCorpVault": s.HashiCorpVault, "azureKeyVault": s.AzureKeyVault, "gcpSecretManager": s.GCPSecretManager,
		"awsSecretManager": s.AwsSecretManager, "boundServiceAccountToken": s.BoundServiceAccountToken} {
		if len(raw) > 0 {
			t.Errorf("TriggerAuthentication %s: %s set; pod identity only (no keys in Secrets)", ta.Name, name)
		}
	}
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func keys[T any](m map[string]T) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}
