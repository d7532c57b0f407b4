package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hookline/hookline/config"
)

// DynamoDB table layout, as Sockudo's dynamodb app manager creates it.
const (
	// dynamoDBKeyIndex is the global secondary index on the "key" attribute.
	dynamoDBKeyIndex = "KeyIndex"
)

var _ Source = (*DynamoDBSource)(nil)

// DynamoDBSource reads the apps of Sockudo's dynamodb app manager: a table
// (default "sockudo-applications") with partition key "id" (S) and a global
// secondary index "KeyIndex" on "key" (S). Each item has id, key and secret
// (S), enabled (BOOL; absent means enabled), and policy and webhooks as
// Sockudo writes them, JSON text (S); a native map or list (M, L) is read as
// the JSON it holds, NULL or absent as no value.
type DynamoDBSource struct {
	client *dynamodb.Client
	table  string
}

// NewDynamoDB returns a source reading d's table. Credentials are d's
// static keys when AccessKeyID is set, else the shared-config profile
// d.Profile when set, else the AWS default chain; EndpointURL, when set,
// replaces the regional endpoint (a local emulator); an empty TableName is
// "sockudo-applications". It makes no network call: an unreachable or
// refusing DynamoDB, or missing credentials, show in Load.
func NewDynamoDB(ctx context.Context, d config.DynamoDB) (*DynamoDBSource, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(d.Region)}
	switch {
	case d.AccessKeyID != "":
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(d.AccessKeyID, d.SecretAccessKey.Reveal(), "")))
	case d.Profile != "":
		opts = append(opts, awsconfig.WithSharedConfigProfile(d.Profile))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("dynamodb: aws config: %w", err)
	}
	client := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if d.EndpointURL != "" {
			o.BaseEndpoint = aws.String(d.EndpointURL)
		}
	})
	table := d.TableName
	if table == "" {
		table = config.DefaultDynamoDBTable
	}
	return &DynamoDBSource{client: client, table: table}, nil
}

// Name is "dynamodb".
func (s *DynamoDBSource) Name() string { return config.DriverDynamoDB }

// Load scans the whole table, page by page (DynamoDB returns at most 1 MB
// a call).
func (s *DynamoDBSource) Load(ctx context.Context, cfg *config.Config) ([]config.App, []error, error) {
	var (
		apps    []config.App
		skipped []error
	)
	p := dynamodb.NewScanPaginator(s.client, &dynamodb.ScanInput{TableName: aws.String(s.table)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("dynamodb: scan table %q: %w", s.table, err)
		}
		for _, item := range page.Items {
			app, err := s.app(cfg, item)
			if err != nil {
				skipped = append(skipped, err)
				continue
			}
			apps = append(apps, app)
		}
	}
	return apps, skipped, nil
}

// AppByID reads the item with partition key id.
func (s *DynamoDBSource) AppByID(ctx context.Context, cfg *config.Config, id string) (config.App, bool, error) {
	if id == "" { // DynamoDB refuses an empty key value
		return config.App{}, false, nil
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return config.App{}, false, fmt.Errorf("dynamodb: get app %q from table %q: %w", id, s.table, err)
	}
	if len(out.Item) == 0 {
		return config.App{}, false, nil
	}
	app, err := s.app(cfg, out.Item)
	return app, err == nil, err
}

// AppByKey queries the KeyIndex index for key. An index that does not
// project the secret (KEYS_ONLY) is followed by a read of the item.
func (s *DynamoDBSource) AppByKey(ctx context.Context, cfg *config.Config, key string) (config.App, bool, error) {
	if key == "" { // DynamoDB refuses an empty key value
		return config.App{}, false, nil
	}
	out, err := s.client.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(dynamoDBKeyIndex),
		KeyConditionExpression:    aws.String("#k = :k"),
		ExpressionAttributeNames:  map[string]string{"#k": "key"}, // "key" is a reserved word
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: key}},
		Limit:                     aws.Int32(2), // a second one is a duplicate key
	})
	if err != nil {
		return config.App{}, false, fmt.Errorf("dynamodb: query index %s of table %q for an app key: %w", dynamoDBKeyIndex, s.table, err)
	}
	switch len(out.Items) {
	case 0:
		return config.App{}, false, nil
	case 1:
	default:
		ids := make([]string, 0, len(out.Items))
		for _, item := range out.Items {
			id, _ := item["id"].(*types.AttributeValueMemberS)
			if id != nil {
				ids = append(ids, id.Value)
			}
		}
		sort.Strings(ids)
		return config.App{}, false, fmt.Errorf("dynamodb: table %q: more than one app has the key asked for (ids %q)", s.table, ids)
	}
	item := out.Items[0]
	if _, ok := item["secret"]; !ok {
		id, ok := item["id"].(*types.AttributeValueMemberS)
		if !ok {
			return config.App{}, false, fmt.Errorf("dynamodb: table %q: index %s returned an item without a string id", s.table, dynamoDBKeyIndex)
		}
		return s.AppByID(ctx, cfg, id.Value)
	}
	app, err := s.app(cfg, item)
	return app, err == nil, err
}

// Close releases nothing: the SDK client holds only idle connections.
func (s *DynamoDBSource) Close() error { return nil }

// app resolves one item with the file's checks and defaults.
func (s *DynamoDBSource) app(cfg *config.Config, item map[string]types.AttributeValue) (config.App, error) {
	rec, err := s.record(item)
	if err != nil {
		return config.App{}, err
	}
	app, _, err := cfg.AppFromRecord(rec, config.RecordPath(s.table, rec.ID))
	return app, err
}

// record reads an item's attributes into Sockudo's columns. Every error
// names the item (its id, when it has a string one) and the attribute.
func (s *DynamoDBSource) record(item map[string]types.AttributeValue) (config.AppRecord, error) {
	var (
		rec  = config.AppRecord{Enabled: true}
		errs []error
	)
	if v, ok := item["id"].(*types.AttributeValueMemberS); ok {
		rec.ID = v.Value
	}
	where := config.RecordPath(s.table, rec.ID)
	bad := func(attr, want string, v types.AttributeValue) {
		errs = append(errs, fmt.Errorf("%s.%s: want %s, got %s", where, attr, want, attrType(v)))
	}
	for attr, dst := range map[string]*string{"id": &rec.ID, "key": &rec.Key, "secret": &rec.Secret} {
		switch v := item[attr].(type) {
		case nil, *types.AttributeValueMemberNULL:
			// AppFromRecord says it is required.
		case *types.AttributeValueMemberS:
			*dst = v.Value
		default:
			bad(attr, "a string (S)", v)
		}
	}
	switch v := item["enabled"].(type) {
	case nil, *types.AttributeValueMemberNULL:
		// Sockudo's default: enabled.
	case *types.AttributeValueMemberBOOL:
		rec.Enabled = v.Value
	default:
		bad("enabled", "a boolean (BOOL)", v)
	}
	for attr, dst := range map[string]*[]byte{"webhooks": &rec.Webhooks, "policy": &rec.Policy} {
		switch v := item[attr].(type) {
		case nil, *types.AttributeValueMemberNULL:
		case *types.AttributeValueMemberS:
			*dst = []byte(v.Value)
		case *types.AttributeValueMemberM, *types.AttributeValueMemberL:
			j, err := attrJSON(v)
			if err == nil {
				*dst, err = json.Marshal(j)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.%s: %w", where, attr, err))
			}
		default:
			bad(attr, "JSON text (S), a map (M) or a list (L)", v)
		}
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return config.AppRecord{}, errors.Join(errs...)
	}
	return rec, nil
}

// sortErrors orders errors by text: the attributes are visited in map
// order.
func sortErrors(errs []error) {
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
}

// attrJSON converts a DynamoDB value to the JSON value it stands for:
// numbers stay exact (json.Number), binary becomes base64 text, sets become
// arrays.
func attrJSON(av types.AttributeValue) (any, error) {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return v.Value, nil
	case *types.AttributeValueMemberN:
		n := json.Number(v.Value)
		if _, err := json.Marshal(n); err != nil {
			return nil, fmt.Errorf("number %q: %w", v.Value, err)
		}
		return n, nil
	case *types.AttributeValueMemberBOOL:
		return v.Value, nil
	case *types.AttributeValueMemberNULL:
		return nil, nil
	case *types.AttributeValueMemberB:
		return base64.StdEncoding.EncodeToString(v.Value), nil
	case *types.AttributeValueMemberM:
		m := make(map[string]any, len(v.Value))
		for k, e := range v.Value {
			j, err := attrJSON(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			m[k] = j
		}
		return m, nil
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			j, err := attrJSON(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = j
		}
		return l, nil
	case *types.AttributeValueMemberSS:
		return v.Value, nil
	case *types.AttributeValueMemberNS:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			j, err := attrJSON(&types.AttributeValueMemberN{Value: e})
			if err != nil {
				return nil, err
			}
			l[i] = j
		}
		return l, nil
	case *types.AttributeValueMemberBS:
		l := make([]string, len(v.Value))
		for i, e := range v.Value {
			l[i] = base64.StdEncoding.EncodeToString(e)
		}
		return l, nil
	}
	return nil, fmt.Errorf("unsupported value %s", attrType(av))
}

// attrType names a value's DynamoDB type for messages.
func attrType(av types.AttributeValue) string {
	switch av.(type) {
	case *types.AttributeValueMemberS:
		return "a string (S)"
	case *types.AttributeValueMemberN:
		return "a number (N)"
	case *types.AttributeValueMemberBOOL:
		return "a boolean (BOOL)"
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberB:
		return "binary (B)"
	case *types.AttributeValueMemberM:
		return "a map (M)"
	case *types.AttributeValueMemberL:
		return "a list (L)"
	case *types.AttributeValueMemberSS:
		return "a string set (SS)"
	case *types.AttributeValueMemberNS:
		return "a number set (NS)"
	case *types.AttributeValueMemberBS:
		return "a binary set (BS)"
	}
	return fmt.Sprintf("%T", av)
}
