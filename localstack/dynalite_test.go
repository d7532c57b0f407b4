package localstack_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hookline/hookline/localstack"
)

func TestDynamoDBEndpointIsStable(t *testing.T) {
	first := localstack.DynamoDBEndpoint(t)
	if os.Getenv(localstack.DynamoDBEndpointEnv) == "" && !strings.HasPrefix(first, "http://127.0.0.1:") {
		t.Errorf("harness dynalite at %q, want loopback http://127.0.0.1:PORT", first)
	}
	if second := localstack.DynamoDBEndpoint(t); second != first {
		t.Errorf("second DynamoDBEndpoint = %q, want the same endpoint %q (one emulator per process)", second, first)
	}
}

// createTable creates a table with partition key id and waits until it is ACTIVE.
func createTable(t *testing.T, ctx context.Context, client *dynamodb.Client, name string) {
	t.Helper()
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 10*time.Second); err != nil {
		t.Fatalf("table %s not active: %v", name, err)
	}
}

func TestDynamoDBRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := localstack.DynamoDBClient(localstack.DynamoDBEndpoint(t), region)
	table := localstack.UniqueTableName(t, "hookline")
	createTable(t, ctx, client, table)
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.WithoutCancel(ctx), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})

	item := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "a1"}, "n": &types.AttributeValueMemberN{Value: "7"}}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	got, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"id": item["id"]}})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	if n, ok := got.Item["n"].(*types.AttributeValueMemberN); !ok || n.Value != "7" {
		t.Errorf("GetItem = %v, want n = 7", got.Item)
	}
}

func TestDynaliteStopRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := localstack.StartDynalite(t)
	endpoint := d.Endpoint()
	client := localstack.DynamoDBClient(endpoint, region)
	createTable(t, ctx, client, "apps")

	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(endpoint, "http://")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s accepts connections after Stop", addr)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	if err := d.Restart(); err != nil {
		t.Fatal(err)
	}
	if d.Endpoint() != endpoint {
		t.Errorf("endpoint after Restart = %s, want %s", d.Endpoint(), endpoint)
	}
	// A new, empty emulator: the table is gone.
	_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("apps")})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("DescribeTable after Restart = %v, want ResourceNotFoundException", err)
	}
}
