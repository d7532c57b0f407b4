package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// App manager drivers. Sockudo's names; the environment also accepts
// "postgres" and "postgresql" for pgsql.
const (
	DriverMemory   = "memory"
	DriverPostgres = "pgsql"
	DriverMySQL    = "mysql"
	DriverDynamoDB = "dynamodb"
)

// DefaultDynamoDBTable is database.dynamodb.table_name's default, Sockudo's.
const DefaultDynamoDBTable = "sockudo-applications"

// DefaultCacheTTL is how long apps read from a database are served before
// they are read again (Sockudo's cache_ttl default).
const DefaultCacheTTL = 300 * time.Second

// AppManager is Sockudo's "app_manager": where the apps come from.
type AppManager struct {
	// Driver is memory (apps in the file), pgsql, mysql or dynamodb.
	Driver string
	// CacheTTL is how long a database registry is served before it is read
	// again: CACHE_TTL_SECONDS, else database.<driver>.cache_ttl, else
	// app_manager.cache.ttl, else 300 s.
	CacheTTL time.Duration
}

// Database holds Sockudo's "database" connection settings.
type Database struct {
	Postgres SQLDatabase
	MySQL    SQLDatabase
	DynamoDB DynamoDB
}

// SQLDatabase is database.postgres or database.mysql.
type SQLDatabase struct {
	Host     string
	Port     int
	Username string
	Password Secret
	Database string
	// TableName is the apps table. Default "applications".
	TableName string
	// PoolMax caps open connections (pool_max, else connection_pool_size).
	// Default 10.
	PoolMax int
	// CacheTTL is database.<driver>.cache_ttl; zero when not set.
	CacheTTL time.Duration
}

// DynamoDB is database.dynamodb.
type DynamoDB struct {
	Region string
	// TableName is the apps table. Default "sockudo-applications".
	TableName       string
	EndpointURL     string
	AccessKeyID     string
	SecretAccessKey Secret
	Profile         string
}

func defaultDatabase() Database {
	sql := func(port int, user string) SQLDatabase {
		return SQLDatabase{Host: "localhost", Port: port, Username: user, Database: "sockudo", TableName: "applications", PoolMax: 10}
	}
	return Database{
		// Sockudo's default port is 3306 for both; 5432 for PostgreSQL is
		// Hookline's (a Sockudo on pgsql has the port set, or it fails).
		Postgres: sql(5432, "postgres"),
		MySQL:    sql(3306, "root"),
		DynamoDB: DynamoDB{Region: DefaultRegion, TableName: DefaultDynamoDBTable},
	}
}

// normalizeDriver maps Sockudo's driver names and aliases to the
// Driver* constants; ok is false for a driver Hookline does not have.
func normalizeDriver(d string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(d)) {
	case "", DriverMemory:
		return DriverMemory, true
	case DriverPostgres, "postgres", "postgresql":
		return DriverPostgres, true
	case DriverMySQL, "mariadb":
		return DriverMySQL, true
	case DriverDynamoDB:
		return DriverDynamoDB, true
	}
	return "", false
}

var sqlDatabaseKeys = []string{
	"host", "port", "username", "password", "database", "table_name", "connection_pool_size",
	"pool_min", "pool_max", "cache_ttl", "cache_cleanup_interval", "cache_max_capacity",
}

var dynamoDBKeys = []string{"region", "table_name", "endpoint_url", "aws_access_key_id", "aws_secret_access_key", "aws_profile_name"}

// database reads "database.postgres", "database.mysql" and
// "database.dynamodb". Sockudo's other sections (redis, …) are not
// Hookline's and are left alone.
func (w *walker) database(db *Database, o *object) {
	for _, section := range []struct {
		key string
		dst *SQLDatabase
	}{{"postgres", &db.Postgres}, {"mysql", &db.MySQL}} {
		v, _ := o.get(section.key)
		s, ok := w.object(join(o.path, section.key), v)
		if !ok {
			continue
		}
		d := section.dst
		w.checkKeys(s, sqlDatabaseKeys, map[string]string{"user": `did you mean "username"?`, "table": `did you mean "table_name"?`}, false)
		w.setString(s, "host", &d.Host)
		w.setString(s, "username", &d.Username)
		w.setString(s, "database", &d.Database)
		w.setString(s, "table_name", &d.TableName)
		var pw string
		w.setString(s, "password", &pw)
		if pw != "" {
			d.Password = Secret(pw)
		}
		if v, p := s.get("port"); v != nil {
			if n, ok := w.integer(p, v, 1, 65535); ok {
				d.Port = int(n)
			}
		}
		for _, k := range []string{"connection_pool_size", "pool_max"} {
			if v, p := s.get(k); v != nil {
				if n, ok := w.integer(p, v, 1, 1000); ok {
					d.PoolMax = int(n)
				}
			}
		}
		if v, p := s.get("cache_ttl"); v != nil {
			if n, ok := w.integer(p, v, 1, 86_400); ok {
				d.CacheTTL = time.Duration(n) * time.Second
			}
		}
	}
	v, _ := o.get("dynamodb")
	if s, ok := w.object(join(o.path, "dynamodb"), v); ok {
		d := &db.DynamoDB
		w.checkKeys(s, dynamoDBKeys, map[string]string{"endpoint": `did you mean "endpoint_url"?`, "table": `did you mean "table_name"?`}, false)
		w.setString(s, "region", &d.Region)
		w.setString(s, "table_name", &d.TableName)
		w.setString(s, "endpoint_url", &d.EndpointURL)
		w.setString(s, "aws_access_key_id", &d.AccessKeyID)
		w.setString(s, "aws_profile_name", &d.Profile)
		var sk string
		w.setString(s, "aws_secret_access_key", &sk)
		if sk != "" {
			d.SecretAccessKey = Secret(sk)
		}
	}
}

// appManagerCache reads app_manager.cache.{enabled,ttl}.
func (w *walker) appManagerCache(am *AppManager, o *object) {
	v, p := o.get("cache")
	c, ok := w.object(p, v)
	if !ok {
		return
	}
	w.checkKeys(c, []string{"enabled", "ttl"}, nil, false)
	if v, p := c.get("ttl"); v != nil {
		if n, ok := w.integer(p, v, 1, 86_400); ok {
			am.CacheTTL = time.Duration(n) * time.Second
		}
	}
}

// databaseEnv are Sockudo's DATABASE_* names (and CACHE_TTL_SECONDS).
var databaseEnv = []envVar{
	{"DATABASE_POSTGRES_HOST", strSetter(func(c *Config) *string { return &c.Database.Postgres.Host })},
	{"DATABASE_POSTGRES_PORT", intSetter(1, 65535, func(c *Config, n int64) { c.Database.Postgres.Port = int(n) })},
	{"DATABASE_POSTGRES_USER", strSetter(func(c *Config) *string { return &c.Database.Postgres.Username })},
	{"DATABASE_POSTGRES_USERNAME", strSetter(func(c *Config) *string { return &c.Database.Postgres.Username })},
	{"DATABASE_POSTGRES_PASSWORD", secretSetter(func(c *Config) *Secret { return &c.Database.Postgres.Password })},
	{"DATABASE_POSTGRES_DATABASE", strSetter(func(c *Config) *string { return &c.Database.Postgres.Database })},
	{"DATABASE_POSTGRES_TABLE_NAME", strSetter(func(c *Config) *string { return &c.Database.Postgres.TableName })},
	{"DATABASE_POSTGRES_POOL_MAX", intSetter(1, 1000, func(c *Config, n int64) { c.Database.Postgres.PoolMax = int(n) })},
	{"DATABASE_MYSQL_HOST", strSetter(func(c *Config) *string { return &c.Database.MySQL.Host })},
	{"DATABASE_MYSQL_PORT", intSetter(1, 65535, func(c *Config, n int64) { c.Database.MySQL.Port = int(n) })},
	{"DATABASE_MYSQL_USERNAME", strSetter(func(c *Config) *string { return &c.Database.MySQL.Username })},
	{"DATABASE_MYSQL_PASSWORD", secretSetter(func(c *Config) *Secret { return &c.Database.MySQL.Password })},
	{"DATABASE_MYSQL_DATABASE", strSetter(func(c *Config) *string { return &c.Database.MySQL.Database })},
	{"DATABASE_MYSQL_TABLE_NAME", strSetter(func(c *Config) *string { return &c.Database.MySQL.TableName })},
	{"DATABASE_MYSQL_POOL_MAX", intSetter(1, 1000, func(c *Config, n int64) { c.Database.MySQL.PoolMax = int(n) })},
	{"DATABASE_DYNAMODB_REGION", strSetter(func(c *Config) *string { return &c.Database.DynamoDB.Region })},
	{"DATABASE_DYNAMODB_TABLE_NAME", strSetter(func(c *Config) *string { return &c.Database.DynamoDB.TableName })},
	{"DATABASE_DYNAMODB_ENDPOINT_URL", strSetter(func(c *Config) *string { return &c.Database.DynamoDB.EndpointURL })},
	{"CACHE_TTL_SECONDS", intSetter(1, 86_400, func(c *Config, n int64) { c.AppManager.CacheTTL = time.Duration(n) * time.Second })},
}

func secretSetter(get func(*Config) *Secret) func(*Config, string) error {
	return func(cfg *Config, v string) error { *get(cfg) = Secret(v); return nil }
}

// resolveCacheTTL applies the TTL precedence documented on AppManager.
// envTTL is the value CACHE_TTL_SECONDS set, zero when unset.
func resolveCacheTTL(cfg *Config, fileTTL, envTTL time.Duration) {
	var driverTTL time.Duration
	switch cfg.AppManager.Driver {
	case DriverPostgres:
		driverTTL = cfg.Database.Postgres.CacheTTL
	case DriverMySQL:
		driverTTL = cfg.Database.MySQL.CacheTTL
	}
	for _, d := range []time.Duration{envTTL, driverTTL, fileTTL, DefaultCacheTTL} {
		if d > 0 {
			cfg.AppManager.CacheTTL = d
			return
		}
	}
}

// AppRecord is one app as a database stores it: Sockudo's columns, with
// the webhooks and policy columns as the JSON they hold.
type AppRecord struct {
	ID      string
	Key     string
	Secret  string
	Enabled bool
	// Webhooks is the legacy "webhooks" column (a JSON array), nil when
	// NULL.
	Webhooks []byte
	// Policy is the "policy" column (a JSON object), nil when NULL. Its
	// "webhooks" list, when present, wins over the Webhooks column.
	Policy []byte
}

// AppFromRecord resolves a database row into an App with the same checks
// and defaults as an app of the file. where names the row for messages,
// e.g. `applications[id="app-1"]`; each error's path starts with it.
// Warnings do not stop the row; errors do (the caller skips the row).
func (c *Config) AppFromRecord(rec AppRecord, where string) (App, []string, error) {
	w := &walker{}
	m := map[string]any{"id": rec.ID, "key": rec.Key, "secret": rec.Secret, "enabled": rec.Enabled}
	var hooks any
	hooksPath := join(where, "webhooks")
	if len(bytes.TrimSpace(rec.Policy)) > 0 && !bytes.Equal(bytes.TrimSpace(rec.Policy), []byte("null")) {
		p, err := decodeJSONColumn(rec.Policy)
		if err != nil {
			w.errorf(join(where, "policy"), "is not JSON: %v", err)
		} else if po, ok := w.object(join(where, "policy"), p); ok {
			if list, ok := po.m["webhooks"]; ok && list != nil {
				hooks, hooksPath = list, join(where, "policy.webhooks")
			}
		}
	}
	if hooks == nil && len(bytes.TrimSpace(rec.Webhooks)) > 0 {
		v, err := decodeJSONColumn(rec.Webhooks)
		if err != nil {
			w.errorf(join(where, "webhooks"), "is not JSON: %v", err)
		}
		hooks = v
	}
	if len(w.errs) > 0 {
		return App{}, nil, w.errs
	}
	// The app walker reads the list at "<path>.webhooks"; name the winning
	// column in the paths it reports.
	o := &object{path: strings.TrimSuffix(hooksPath, ".webhooks"), m: m}
	if hooks != nil {
		m["webhooks"] = hooks
	}
	app := w.app(c, o)
	app.Path = where
	switch {
	case app.ID == "":
		w.errorf(join(where, "id"), "is required")
	case !appIDPattern.MatchString(app.ID):
		w.errorf(join(where, "id"), "%q: use 1 to 128 printable ASCII characters without spaces (it becomes the SQS MessageGroupId)", app.ID)
	}
	if app.Key == "" {
		w.errorf(join(where, "key"), "is required")
	}
	if app.Secret == "" {
		w.errorf(join(where, "secret"), "is required")
	}
	w.resolveWebhooks(c, &app)
	if len(w.errs) > 0 {
		return App{}, w.warns, w.errs
	}
	app.Warnings = w.warns
	return app, w.warns, nil
}

// decodeJSONColumn decodes a JSON column's text, numbers kept exact. A
// column holding a JSON string of JSON (as some drivers return it) is
// decoded once more.
func decodeJSONColumn(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if s, ok := v.(string); ok {
		return decodeJSONColumn([]byte(s))
	}
	return v, nil
}

// RecordPath names a database row in messages: table[id="…"].
func RecordPath(table, id string) string {
	return table + "[id=" + strconv.Quote(id) + "]"
}

// driverSettingsProblem checks the settings of the selected database
// driver.
func (w *walker) checkDatabase(cfg *Config) {
	check := func(prefix string, d *SQLDatabase) {
		if d.Host == "" {
			w.errorf(prefix+".host", "is required")
		}
		if d.Database == "" {
			w.errorf(prefix+".database", "is required")
		}
		if !sqlIdentPattern.MatchString(d.TableName) {
			w.errorf(prefix+".table_name", "%q: use letters, digits and '_' (at most 64), optionally schema.table", d.TableName)
		}
	}
	switch cfg.AppManager.Driver {
	case DriverPostgres:
		check("database.postgres", &cfg.Database.Postgres)
	case DriverMySQL:
		check("database.mysql", &cfg.Database.MySQL)
	case DriverDynamoDB:
		d := &cfg.Database.DynamoDB
		if d.TableName == "" {
			w.errorf("database.dynamodb.table_name", "is required")
		}
		if d.Region == "" {
			w.errorf("database.dynamodb.region", "is required")
		}
		if (d.AccessKeyID == "") != (d.SecretAccessKey == "") {
			w.errorf("database.dynamodb.aws_access_key_id", "set aws_access_key_id and aws_secret_access_key together, or neither (the AWS default credential chain)")
		}
	}
}

// String describes the selected app source for logs, without secrets.
func (am AppManager) String() string {
	if am.Driver == DriverMemory || am.Driver == "" {
		return DriverMemory
	}
	return fmt.Sprintf("%s (cache_ttl %s)", am.Driver, am.CacheTTL)
}
