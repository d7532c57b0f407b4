package registry_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/localstack"
	"github.com/hookline/hookline/registry"
	"github.com/hookline/hookline/registry/sourcetest"
)

// dynamoSource returns a DynamoDBSource for the table, configured as a
// Sockudo config with an endpoint_url and static keys would configure it.
func dynamoSource(t *testing.T, d *localstack.AppsTable) *registry.DynamoDBSource {
	t.Helper()
	src, err := registry.NewDynamoDB(context.Background(), d.Settings())
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestDynamoDBSource runs the source suite against a dynalite of the
// test's own, which the outage case stops and restarts; with
// AWS_ENDPOINT_URL_DYNAMODB set, against that endpoint, without the outage
// case.
func TestDynamoDBSource(t *testing.T) {
	var (
		endpoint string
		own      *localstack.Dynalite
	)
	if v := os.Getenv(localstack.DynamoDBEndpointEnv); v != "" {
		endpoint = localstack.DynamoDBEndpoint(t)
	} else {
		own = localstack.StartDynalite(t)
		endpoint = own.Endpoint()
	}
	// One table name for the whole suite (errors name it), made fresh by
	// every New; the subtests run one after the other.
	table := localstack.NewAppsTable(t, endpoint)
	var last []config.AppRecord
	b := sourcetest.Backend{
		Table: table.Name,
		New: func(t *testing.T, rows []config.AppRecord) registry.Source {
			table.Reset(t, localstack.SockudoItems(rows))
			last = rows
			return dynamoSource(t, table)
		},
	}
	if own != nil {
		b.Stop = func(t *testing.T) func() {
			if err := own.Stop(); err != nil {
				t.Fatal(err)
			}
			return func() {
				// dynalite keeps nothing: the table comes back as it was.
				if err := own.Restart(); err != nil {
					t.Fatal(err)
				}
				table.Reset(t, localstack.SockudoItems(last))
			}
		}
	}
	sourcetest.Run(t, b)
}

// attrS, attrN, attrM and attrL build DynamoDB values: a string, a number,
// a map of alternating names and values, a list.
func attrS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func attrN(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func attrM(kv ...any) types.AttributeValue {
	out := map[string]types.AttributeValue{}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1].(types.AttributeValue)
	}
	return &types.AttributeValueMemberM{Value: out}
}

func attrL(vs ...types.AttributeValue) types.AttributeValue {
	return &types.AttributeValueMemberL{Value: vs}
}

// TestDynamoDBAttributes covers items other writers than Sockudo may
// leave: policy and webhooks as native maps and lists, no enabled
// attribute, NULL columns, and attributes of the wrong type.
func TestDynamoDBAttributes(t *testing.T) {
	table := localstack.NewAppsTable(t, localstack.DynamoDBEndpoint(t))
	null := &types.AttributeValueMemberNULL{Value: true}
	hook := func(url string) types.AttributeValue {
		return attrM("url", attrS(url), "event_types", attrL(attrS("channel_occupied"), attrS("member_added")), "request_timeout_ms", attrN("1500"),
			"headers", attrM("X-Team", attrS("blue")), "filter", attrM("channel_prefix", attrS("presence-")))
	}
	table.Reset(t, []map[string]types.AttributeValue{
		// policy as M with a webhooks L, numbers as N; no enabled attribute.
		{"id": attrS("app-native"), "key": attrS("key-native"), "secret": attrS("s1"),
			"policy":   attrM("limits", attrM("max_connections", attrN("100")), "webhooks", attrL(hook("https://native.test/h"))),
			"webhooks": attrL(attrM("url", attrS("https://ignored.test/h"), "event_types", attrL(attrS("channel_vacated"))))},
		// the legacy webhooks attribute as L, policy NULL.
		{"id": attrS("app-list"), "key": attrS("key-list"), "secret": attrS("s2"), "enabled": &types.AttributeValueMemberBOOL{Value: false},
			"policy": null, "webhooks": attrL(hook("https://list.test/h"))},
		// webhooks NULL and no policy: an app without webhooks.
		{"id": attrS("app-null"), "key": attrS("key-null"), "secret": attrS("s3"), "webhooks": null},
		// wrong types: a skipped row naming each attribute.
		{"id": attrS("app-types"), "key": attrS("key-types"), "secret": attrN("98765432123"), "enabled": attrS("yes"), "webhooks": attrN("1")},
	})
	src := dynamoSource(t, table)
	defer src.Close()
	cfg := sourcetest.Config(t)
	ctx := context.Background()

	apps, skipped, err := src.Load(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]config.App{}
	for _, a := range apps {
		got[a.ID] = a
	}
	if len(apps) != 3 {
		t.Fatalf("Load: %d apps (%v), want app-native, app-list and app-null", len(apps), got)
	}
	a := got["app-native"]
	if !a.Enabled {
		t.Error("app-native: no enabled attribute must mean enabled")
	}
	if len(a.Webhooks) != 1 {
		t.Fatalf("app-native webhooks = %+v, want policy.webhooks' one", a.Webhooks)
	}
	if w := a.Webhooks[0]; w.URL != "https://native.test/h" || w.RequestTimeout != 1500*time.Millisecond ||
		w.Headers["X-Team"] != "blue" || w.FilterSpec.ChannelPrefix != "presence-" || len(w.FilterSpec.EventTypes) != 2 {
		t.Errorf("app-native webhook = %+v", w)
	}
	if a := got["app-list"]; a.Enabled || len(a.Webhooks) != 1 || a.Webhooks[0].URL != "https://list.test/h" {
		t.Errorf("app-list = %+v", a)
	}
	if a := got["app-null"]; !a.Enabled || len(a.Webhooks) != 0 || a.Secret.Reveal() != "s3" {
		t.Errorf("app-null = %+v, want enabled with no webhooks", a)
	}
	where := config.RecordPath(table.Name, "app-types")
	if len(skipped) != 1 {
		t.Fatalf("skipped = %v, want app-types", skipped)
	}
	for _, want := range []string{where + ".secret: want a string (S), got a number (N)", where + ".enabled: want a boolean (BOOL), got a string (S)",
		where + ".webhooks: want JSON text (S), a map (M) or a list (L), got a number (N)"} {
		if !strings.Contains(skipped[0].Error(), want) {
			t.Errorf("skipped = %v, want it to contain %q", skipped[0], want)
		}
	}
	if strings.Contains(skipped[0].Error(), "98765432123") {
		t.Errorf("skipped %v shows the secret's value", skipped[0])
	}

	// The one-row reads resolve the same way.
	if a, ok, err := src.AppByKey(ctx, cfg, "key-native"); err != nil || !ok || len(a.Webhooks) != 1 || !a.Enabled {
		t.Errorf("AppByKey(key-native) = %+v, %t, %v", a, ok, err)
	}
	if a, ok, err := src.AppByID(ctx, cfg, "app-null"); err != nil || !ok || len(a.Webhooks) != 0 {
		t.Errorf("AppByID(app-null) = %+v, %t, %v", a, ok, err)
	}
	if _, ok, err := src.AppByKey(ctx, cfg, "key-types"); ok || err == nil || !strings.Contains(err.Error(), where+".secret") {
		t.Errorf("AppByKey(key-types) = %t, %v; want an error naming the attribute", ok, err)
	}
}

// TestDynamoDBErrorsNameTheTable: a table that does not exist fails every
// read with an error naming it.
func TestDynamoDBErrorsNameTheTable(t *testing.T) {
	table := localstack.NewAppsTable(t, localstack.DynamoDBEndpoint(t)) // never created
	src := dynamoSource(t, table)
	defer src.Close()
	if src.Name() != "dynamodb" {
		t.Errorf("Name() = %q", src.Name())
	}
	cfg := sourcetest.Config(t)
	ctx := context.Background()
	_, _, err := src.Load(ctx, cfg)
	var notFound *types.ResourceNotFoundException
	if err == nil || !strings.Contains(err.Error(), table.Name) || !errors.As(err, &notFound) {
		t.Errorf("Load = %v, want a ResourceNotFoundException naming %s", err, table.Name)
	}
	if _, _, err := src.AppByID(ctx, cfg, "app-1"); err == nil || !strings.Contains(err.Error(), table.Name) {
		t.Errorf("AppByID = %v, want an error naming %s", err, table.Name)
	}
	if _, _, err := src.AppByKey(ctx, cfg, "key-1"); err == nil || !strings.Contains(err.Error(), table.Name) {
		t.Errorf("AppByKey = %v, want an error naming %s", err, table.Name)
	}
}

// TestDynamoDBScanPages shows the emulator pages a scan of the suite's
// ManyRows table (600 items of ~2 KB) at 1 MB, as DynamoDB does, so that
// the suite's case exercises Load's pagination.
func TestDynamoDBScanPages(t *testing.T) {
	table := localstack.NewAppsTable(t, localstack.DynamoDBEndpoint(t))
	pad := strings.Repeat("x", 2000)
	items := make([]map[string]types.AttributeValue, 600)
	for i := range items {
		items[i] = map[string]types.AttributeValue{"id": attrS(fmt.Sprintf("app-%04d", i)), "key": attrS(fmt.Sprintf("key-%04d", i)), "pad": attrS(pad)}
	}
	table.Reset(t, items)
	out, err := table.Client.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.LastEvaluatedKey) == 0 || len(out.Items) >= len(items) {
		t.Errorf("first Scan page: %d items, LastEvaluatedKey %v; want a partial page", len(out.Items), out.LastEvaluatedKey)
	}
}
