package localstack

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hookline/hookline/config"
)

// AppsRegion is the region of the clients AppsTable uses.
const AppsRegion = "us-east-1"

// AppsTable is one apps table on a DynamoDB endpoint, created as
// Sockudo's dynamodb app manager creates it.
type AppsTable struct {
	Endpoint string
	Client   *dynamodb.Client
	Name     string
}

// NewAppsTable names a new table on endpoint (Reset creates it) and
// deletes it when the test ends.
func NewAppsTable(t testing.TB, endpoint string) *AppsTable {
	t.Helper()
	d := &AppsTable{Endpoint: endpoint, Client: DynamoDBClient(endpoint, AppsRegion),
		Name: UniqueTableName(t, "sockudo-applications")}
	t.Cleanup(func() { // for a long-lived endpoint (LocalStack); dynalite forgets it anyway
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = d.Client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(d.Name)})
	})
	return d
}

// Reset deletes the table if it exists, creates it empty (partition key
// id, global secondary index KeyIndex on key) and writes items.
func (d *AppsTable) Reset(t testing.TB, items []map[string]types.AttributeValue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := d.Client
	name := aws.String(d.Name)
	if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: name}); err == nil {
		w := dynamodb.NewTableNotExistsWaiter(c, func(o *dynamodb.TableNotExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = 10*time.Millisecond, 200*time.Millisecond
		})
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: name}, 30*time.Second); err != nil {
			t.Fatalf("table %s not deleted: %v", d.Name, err)
		}
	} else if notFound := (*types.ResourceNotFoundException)(nil); !errors.As(err, &notFound) {
		t.Fatalf("DeleteTable %s: %v", d.Name, err)
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
		t.Fatalf("CreateTable %s: %v", d.Name, err)
	}
	w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 200*time.Millisecond
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: name}, 30*time.Second); err != nil {
		t.Fatalf("table %s not active: %v", d.Name, err)
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
			out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{d.Name: reqs}})
			if err != nil {
				t.Fatalf("BatchWriteItem %s: %v", d.Name, err)
			}
			reqs = out.UnprocessedItems[d.Name]
		}
	}
}

// SockudoItem is rec as Sockudo's dynamodb app manager writes it: strings,
// a BOOL enabled, policy and webhooks as JSON text (absent when nil), and
// Sockudo's other attributes, which Hookline ignores.
func SockudoItem(rec config.AppRecord) map[string]types.AttributeValue {
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

// SockudoItems is SockudoItem of each row.
func SockudoItems(rows []config.AppRecord) []map[string]types.AttributeValue {
	items := make([]map[string]types.AttributeValue, len(rows))
	for i, r := range rows {
		items[i] = SockudoItem(r)
	}
	return items
}

// Settings returns the database.dynamodb settings of a Sockudo config for
// the table: its endpoint_url and static keys.
func (d *AppsTable) Settings() config.DynamoDB {
	return config.DynamoDB{Region: AppsRegion, TableName: d.Name, EndpointURL: d.Endpoint,
		AccessKeyID: "test", SecretAccessKey: config.Secret("test")}
}
