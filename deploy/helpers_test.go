package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/worker"
)

// placeholders are the values the tests put where the files say REGION,
// ACCOUNT, VERSION or QUEUE-KEY-ID, as a user does before applying them
// (deploy/README.md): the files are checked as they will be applied, so an
// ARN or a region that only looks right with the placeholder fails here.
var placeholders = strings.NewReplacer(
	"REGION", "eu-west-1",
	"ACCOUNT", "123456789012",
	"VERSION", "v1.2.3",
	"QUEUE-KEY-ID", "0b9d6f5e-3c1a-4e1f-9a8b-7c6d5e4f3a2b",
)

const (
	region  = "eu-west-1"
	account = "123456789012"
)

// render reads a file under deploy/ with the placeholders replaced.
func render(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(placeholders.Replace(string(data)))
}

// baseConfigPath is the config the manifests run with: the Kubernetes base
// mounts it from its ConfigMap, and deploy/ecs/Dockerfile bakes it into the
// image the ECS task definitions run.
const baseConfigPath = "k8s/base/config.json"

// loadConfig loads the base config as a container with this environment
// would: its env overrides apply, and HOOKLINE_APP_<ID>_SECRET names are
// present when the container sets them (from a Secret, so the value here is
// a stand-in).
func loadConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	data := render(t, baseConfigPath)
	cfg, err := config.Parse(data, config.Sources{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		ReadFile:  os.ReadFile,
	}, config.Overrides{})
	if err != nil {
		t.Fatalf("%s with the container's environment: %v", baseConfigPath, err)
	}
	return cfg
}

// gracePeriod is the drain the worker or ingest gets: --grace-period when
// the command sets it, else the config's shutdown_grace_period.
func gracePeriod(t *testing.T, cfg *config.Config, args []string) time.Duration {
	t.Helper()
	if v, ok := flagValue(args, "--grace-period"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("--grace-period %q: %v", v, err)
		}
		return d
	}
	return cfg.ShutdownGracePeriod
}

// flagValue returns the value of --name in args ("--name v" or "--name=v").
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// listenPort is the port of the command's --listen, or def.
func listenPort(t *testing.T, args []string, def string) string {
	t.Helper()
	v, ok := flagValue(args, "--listen")
	if !ok {
		v = def
	}
	_, port, found := strings.Cut(v, ":")
	if !found || port == "" {
		t.Fatalf("--listen %q has no port", v)
	}
	return port
}

// Ports and paths the commands serve (cmd/hookline: worker --listen
// defaults to :9464; ingest serves its endpoints and /healthz, /metrics on
// its --listen, default :8080).
const (
	workerDefaultListen = ":9464"
	ingestDefaultListen = ":8080"
	configMountDir      = "/etc/hookline"
)

// decodeJSON decodes data into v strictly: encoding/json with
// DisallowUnknownFields, a single value, and then every object key checked
// for its exact spelling against v's Go type (encoding/json itself matches
// names case-insensitively, which AWS does not). keyName maps a Go field
// name to the JSON name the AWS CLI uses for it.
func decodeJSON(data []byte, v any, keyName func(string) string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON value")
	}
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	var problems []string
	checkKeys(raw, reflect.TypeOf(v), keyName, "", &problems)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// checkKeys walks raw (a decoded JSON value) beside the Go type it was
// decoded into and reports each object key whose spelling is not exactly
// keyName(field) (or the field's json tag name). Map keys are data and not
// checked; types with their own UnmarshalJSON are not descended into.
func checkKeys(raw any, t reflect.Type, keyName func(string) string, path string, problems *[]string) {
	for t.Kind() == reflect.Pointer {
		if t.Implements(unmarshalerType) {
			return
		}
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return
		}
		fields := map[string]reflect.StructField{}
		collectFields(t, keyName, fields)
		for k, v := range obj {
			f, ok := fields[k]
			if !ok {
				*problems = append(*problems, fmt.Sprintf("%s%s: not a field of %s (wrong case?)", path, k, t.Name()))
				continue
			}
			checkKeys(v, f.Type, keyName, path+k+".", problems)
		}
	case reflect.Slice, reflect.Array:
		if list, ok := raw.([]any); ok {
			for i, v := range list {
				checkKeys(v, t.Elem(), keyName, fmt.Sprintf("%s[%d].", strings.TrimSuffix(path, "."), i), problems)
			}
		}
	case reflect.Map:
		if obj, ok := raw.(map[string]any); ok {
			for k, v := range obj {
				checkKeys(v, t.Elem(), keyName, path+k+".", problems)
			}
		}
	}
}

// collectFields maps the JSON names of t's exported fields, embedded
// structs' fields promoted, to the fields.
func collectFields(t reflect.Type, keyName func(string) string, out map[string]reflect.StructField) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectFields(ft, keyName, out)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		name := tag
		if name == "" {
			name = keyName(f.Name)
		}
		out[name] = f
	}
}

// pascalCase is the AWS CLI's spelling for Application Auto Scaling,
// CloudWatch and IAM policy documents: the Go field name itself.
func pascalCase(name string) string { return name }

// lowerCamel is the AWS CLI's spelling for ECS (its JSON protocol's member
// names): the Go field name with a lower-case first letter.
func lowerCamel(name string) string {
	r, n := utf8.DecodeRuneInString(name)
	return string(unicode.ToLower(r)) + name[n:]
}

// errNotSent is what stubHTTP answers: the SDK validated the input and
// serialized the request, and nothing left the process.
var errNotSent = errors.New("request not sent: test stub")

// stubHTTP is an SDK HTTP client that sends nothing. Calling an operation
// with it runs the SDK's client-side validation (required members,
// lengths) and serialization; any other error than errNotSent is the input's
// fault.
type stubHTTP struct{}

func (stubHTTP) Do(*http.Request) (*http.Response, error) { return nil, errNotSent }

// sdkValidates fails the test unless err says the request got as far as the
// (stub) transport.
func sdkValidates(t *testing.T, path string, err error) {
	t.Helper()
	if !errors.Is(err, errNotSent) {
		t.Errorf("%s: the SDK rejects the input: %v", path, err)
	}
}

// jsonFiles lists dir's *.json files, sorted.
func jsonFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no JSON files in %s (%v)", dir, err)
	}
	slices.Sort(files)
	return files
}

// roleNameRE extracts an IAM role's name from its ARN.
var roleNameRE = regexp.MustCompile(`^arn:aws:iam::` + account + `:role/([A-Za-z0-9+=,.@_-]+)$`)

// policyFileForRole is the deploy/iam policy of a role named in a
// manifest: role hookline-NAME has iam/NAME.json.
func policyFileForRole(t *testing.T, arn string) string {
	t.Helper()
	m := roleNameRE.FindStringSubmatch(arn)
	if m == nil {
		t.Errorf("role %q is not an IAM role ARN of account ACCOUNT", arn)
		return ""
	}
	name, ok := strings.CutPrefix(m[1], "hookline-")
	if !ok {
		t.Errorf("role %q: want a name hookline-<policy>", arn)
		return ""
	}
	path := filepath.Join("iam", name+".json")
	if _, err := os.Stat(path); err != nil {
		t.Errorf("role %s has no policy: %v", m[1], err)
	}
	return path
}

// sqsQueueURL is the URL of a queue of the account, in the region.
func sqsQueueURL(name string) string {
	return "https://sqs." + region + ".amazonaws.com/" + account + "/" + name
}

// workerMaxInFlight is the worker's --max-inflight as the manifests run it
// (the default: none of them sets the flag).
const workerMaxInFlight = worker.DefaultMaxInFlightMessages

// allSecrets is an environment in which every HOOKLINE_APP_<ID>_SECRET of
// the base config is set, for tests that need the config but not a
// container's view of it.
func allSecrets(t *testing.T) map[string]string {
	t.Helper()
	cfg, err := config.Parse(render(t, baseConfigPath), config.Sources{
		LookupEnv: func(k string) (string, bool) {
			if strings.HasPrefix(k, "HOOKLINE_APP_") && strings.HasSuffix(k, "_SECRET") {
				return "stand-in", true
			}
			return "", false
		},
		ReadFile: os.ReadFile,
	}, config.Overrides{})
	if err != nil {
		t.Fatalf("%s: %v", baseConfigPath, err)
	}
	env := map[string]string{}
	for _, a := range cfg.Apps {
		env[config.SecretEnvName(a.ID)] = "stand-in"
	}
	return env
}

func atoi32(t *testing.T, s string) int32 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return int32(n)
}
