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


const dynamoRegion = "us-east-1"

// dynamoTable is one apps table on a DynamoDB endpoint, created as
// Sockudo's dynamodb app manager creates it.
type dynamoTable struct {
	endpoint string
	client   *dynamodb.Client
	name     string
}

func newDynamoTable(t *testing.T, endpoint string) *dynamoTable {
	t.Helper()
	d := &dynamoTable{endpoint: endpoint, client: localstack.DynamoDBClient(endpoint, dynamoRegion),
		name: localstack.UniqueTableName(t, "sockudo-applications")}
	t.Cleanup(func() { // for a long-lived endpoint (LocalStack); dynalite forgets it anyway
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = d.client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(d.name)})
	})
	return d
}

// reset deletes the table if it exists, creates it empty (partition key
// id, global secondary index KeyIndex on key) and writes items.
func (d *dynamoTable) reset(t *testing.T, items []map[string]types.AttributeValue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := d.client
	name := aws.String(d.name)
	if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: name}); err == nil {
		w := dynamodb.NewTableNotExistsWaiter(c, func(o *dynamodb.TableNotExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = 10*time.Millisecond, 200*time.Millisecond
		})
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: name}, 30*time.Second); err != nil {
			t.Fatalf("table %s not deleted: %v", d.name, err)
		}
	} else if notFound := (*types.ResourceNotFoundException)(nil); !errors.As(err, &notFound) {
		t.Fatalf("DeleteTable %s: %v", d.name, err)
	}
	s := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	hash := func(n string) []types.KeySchemaElement {
		return []types.KeySchemaElement{{AttributeName: aws.String(n), KeyType: types.KeyTypeHash}}
	}
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            name,
		AttributeDefinitions: []types.AttributeDefinition{s("id"), s("key")},
		KeySchema:            hash("id"),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String("KeyIndex"), KeySchema: hash("key"),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable %s: %v", d.name, err)
	}
	w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 200*time.Millisecond
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: name}, 30*time.Second); err != nil {
		t.Fatalf("table %s not active: %v", d.name, err)
	}
	const maxBatch = 25 // BatchWriteItem limit
	for len(items) > 0 {
		n := min(len(items), maxBatch)
		reqs := make([]types.WriteRequest, n)
		for i, item := range items[:n] {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
		}
		items = items[n:]
		for len(reqs) > 0 {
			out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{d.name: reqs}})
			if err != nil {
				t.Fatalf("BatchWriteItem %s: %v", d.name, err)
			}
			reqs = out.UnprocessedItems[d.name]
		}
	}
}

// source returns a DynamoDBSource for the table, configured as a Sockudo
// config with an endpoint_url and static keys would configure it.
func (d *dynamoTable) source(t *testing.T) *registry.DynamoDBSource {
	t.Helper()
	src, err := registry.NewDynamoDB(context.Background(), config.DynamoDB{
		Region: dynamoRegion, TableName: d.name, EndpointURL: d.endpoint,
		AccessKeyID: "test", SecretAccessKey: config.Secret("test"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// sockudoItem is rec as Sockudo's dynamodb app manager writes it: strings,
// a BOOL enabled, policy and webhooks as JSON text (absent when nil), and
// Sockudo's other attributes, which Hookline ignores.
func sockudoItem(rec config.AppRecord) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		"id":                     &types.AttributeValueMemberS{Value: rec.ID},
		"key":                    &types.AttributeValueMemberS{Value: rec.Key},
		"secret":                 &types.AttributeValueMemberS{Value: rec.Secret},
		"enabled":                &types.AttributeValueMemberBOOL{Value: rec.Enabled},
		"max_connections":        &types.AttributeValueMemberN{Value: "100"},
		"enable_client_messages": &types.AttributeValueMemberBOOL{Value: false},
	}
	if rec.Webhooks != nil {
		item["webhooks"] = &types.AttributeValueMemberS{Value: string(rec.Webhooks)}
	}
	if rec.Policy != nil {
		item["policy"] = &types.AttributeValueMemberS{Value: string(rec.Policy)}
	}
	return item
}

func sockudoItems(rows []config.AppRecord) []map[string]types.AttributeValue {
	items := make([]map[string]types.AttributeValue, len(rows))
	for i, r := range rows {
		items[i] = sockudoItem(r)
	}
	return items
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
	table := newDynamoTable(t, endpoint)
	var last []config.AppRecord
	b := sourcetest.Backend{
		Table: table.name,
		New: func(t *testing.T, rows []config.AppRecord) registry.Source {
			table.reset(t, sockudoItems(rows))
			last = rows
			return table.source(t)
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
				table.reset(t, sockudoItems(last))
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
	table := newDynamoTable(t, localstack.DynamoDBEndpoint(t))
	null := &types.AttributeValueMemberNULL{Value: true}
	hook := func(url string) types.AttributeValue {
		return attrM("url", attrS(url), "event_types", attrL(attrS("channel_occupied"), attrS("member_added")), "request_timeout_ms", attrN("1500"),
			"headers", attrM("X-Team", attrS("blue")), "filter", attrM("channel_prefix", attrS("presence-")))
	}
	table.reset(t, []map[string]types.AttributeValue{
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
		{"id": attrS("app-types"), "key": attrS("key-types"), "secret": attrN("42"), "enabled": attrS("yes"), "webhooks": attrN("1")},
	})
	src := table.source(t)
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
	where := config.RecordPath(table.name, "app-types")
	if len(skipped) != 1 {
		t.Fatalf("skipped = %v, want app-types", skipped)
	}
	for _, want := range []string{where + ".secret: want a string (S), got a number (N)", where + ".enabled: want a boolean (BOOL), got a string (S)",
		where + ".webhooks: want JSON text (S), a map (M) or a list (L), got a number (N)"} {
		if !strings.Contains(skipped[0].Error(), want) {
			t.Errorf("skipped = %v, want it to contain %q", skipped[0], want)
		}
	}
	if strings.Contains(skipped[0].Error(), "42") {
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
	table := newDynamoTable(t, localstack.DynamoDBEndpoint(t)) // never created
	src := table.source(t)
	defer src.Close()
	if src.Name() != "dynamodb" {
		t.Errorf("Name() = %q", src.Name())
	}
	cfg := sourcetest.Config(t)
	ctx := context.Background()
	_, _, err := src.Load(ctx, cfg)
	var notFound *types.ResourceNotFoundException
	if err == nil || !strings.Contains(err.Error(), table.name) || !errors.As(err, &notFound) {
		t.Errorf("Load = %v, want a ResourceNotFoundException naming %s", err, table.name)
	}
	if _, _, err := src.AppByID(ctx, cfg, "app-1"); err == nil || !strings.Contains(err.Error(), table.name) {
		t.Errorf("AppByID = %v, want an error naming %s", err, table.name)
	}
	if _, _, err := src.AppByKey(ctx, cfg, "key-1"); err == nil || !strings.Contains(err.Error(), table.name) {
		t.Errorf("AppByKey = %v, want an error naming %s", err, table.name)
	}
}

// TestDynamoDBScanPages shows the emulator pages a scan of the suite's
// ManyRows table (600 items of ~2 KB) at 1 MB, as DynamoDB does, so that
// the suite's case exercises Load's pagination.
func TestDynamoDBScanPages(t *testing.T) {
	table := newDynamoTable(t, localstack.DynamoDBEndpoint(t))
	pad := strings.Repeat("x", 2000)
	items := make([]map[string]types.AttributeValue, 600)
	for i := range items {
		items[i] = map[string]types.AttributeValue{"id": attrS(fmt.Sprintf("app-%04d", i)), "key": attrS(fmt.Sprintf("key-%04d", i)), "pad": attrS(pad)}
	}
	table.reset(t, items)
	out, err := table.client.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table.name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.LastEvaluatedKey) == 0 || len(out.Items) >= len(items) {
		t.Errorf("first Scan page: %d items, LastEvaluatedKey %v; want a partial page", len(out.Items), out.LastEvaluatedKey)
	}
}
