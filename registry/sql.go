package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hookline/hookline/config"
)

// SQL connection settings Sockudo has no key for.
const (
	sqlConnectTimeout = 5 * time.Second
	sqlIdleTime       = 5 * time.Minute
)

// SQLSource reads Sockudo's apps table from PostgreSQL or MySQL/MariaDB.
// It only reads (SELECT on the table is all it needs) and works with every
// layout Sockudo has had: the policy column, added in newer versions, and
// the enabled column may be missing; they are looked up in the table's
// columns on every full read.
type SQLSource struct {
	db      *sql.DB
	name    string
	table   string // as configured, for messages
	quoted  string // quoted for SQL
	quote   func(string) string
	placeID string // the placeholder of the one argument of a look-up

	mu      sync.Mutex
	columns string // the select list; "" until read
}

// NewPostgres returns a source reading the table database.postgres.table_name
// (pgsql, postgres and postgresql). It does not connect: the first read does.
// Settings without a Sockudo key (sslmode, sslrootcert, ...) come from
// libpq's environment variables (PGSSLMODE, ...); the default sslmode is
// prefer.
func NewPostgres(d config.SQLDatabase) (*SQLSource, error) {
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(d.Username, d.Password.Reveal()),
		Host:   net.JoinHostPort(d.Host, strconv.Itoa(d.Port)),
		Path:   "/" + d.Database,
	}
	q := url.Values{}
	q.Set("connect_timeout", strconv.Itoa(int(sqlConnectTimeout/time.Second)))
	q.Set("application_name", "hookline")
	u.RawQuery = q.Encode()
	pc, err := pgx.ParseConfig(u.String())
	if err != nil {
		// The URL holds the password: name the settings, not the URL.
		return nil, fmt.Errorf("database.postgres: host %q, port %d, database %q: %w", d.Host, d.Port, d.Database, errors.Unwrap(err))
	}
	// No statement cache: Sockudo adds columns to the table at start-up,
	// and a cached "SELECT *" would then fail ("cached plan must not change
	// result type"); it also keeps PgBouncer in transaction mode working.
	pc.DefaultQueryExecMode = pgx.QueryExecModeExec
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	return newSQLSource(stdlib.OpenDB(*pc), config.DriverPostgres, d, quote, "$1")
}

var mysqlLogger sync.Once

type slogPrinter struct{}

func (slogPrinter) Print(v ...any) { slog.Debug("mysql driver", "msg", fmt.Sprint(v...)) }

// NewMySQL returns a source reading the table database.mysql.table_name
// (MySQL and MariaDB). It does not connect: the first read does. TLS is
// used when the server offers it (the driver's tls=preferred).
func NewMySQL(d config.SQLDatabase) (*SQLSource, error) {
	mysqlLogger.Do(func() {
		// The driver logs with the log package; its lines are errors it
		// also returns (or retries, as a dead pooled connection).
		_ = mysql.SetLogger(mysql.Logger(slogPrinter{}))
	})
	mc := mysql.NewConfig()
	mc.User = d.Username
	mc.Passwd = d.Password.Reveal()
	mc.Net = "tcp"
	mc.Addr = net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
	mc.DBName = d.Database
	mc.Timeout = sqlConnectTimeout
	mc.TLSConfig = "preferred"
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("database.mysql: %w", err)
	}
	quote := func(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
	return newSQLSource(sql.OpenDB(conn), config.DriverMySQL, d, quote, "?")
}

func newSQLSource(db *sql.DB, name string, d config.SQLDatabase, quote func(string) string, place string) (*SQLSource, error) {
	db.SetMaxOpenConns(max(d.PoolMax, 1))
	db.SetMaxIdleConns(min(max(d.PoolMax, 1), 2))
	db.SetConnMaxIdleTime(sqlIdleTime)
	// A table name may be schema-qualified (public.applications): each part
	// is quoted on its own. Sockudo puts the name in its queries unquoted,
	// which PostgreSQL folds to lower case: so does Hookline.
	parts := strings.Split(d.TableName, ".")
	for i, p := range parts {
		if name == config.DriverPostgres {
			p = strings.ToLower(p)
		}
		parts[i] = quote(p)
	}
	return &SQLSource{db: db, name: name, table: d.TableName, quoted: strings.Join(parts, "."), quote: quote, placeID: place}, nil
}

// Name implements Source.
func (s *SQLSource) Name() string { return s.name }

// Close implements Source.
func (s *SQLSource) Close() error { return s.db.Close() }

// selectList reads the table's columns and returns the select list of id,
// key, secret, enabled, webhooks and policy, with constants standing in for
// the optional columns the table does not have.
func (s *SQLSource) selectList(ctx context.Context, fresh bool) (string, error) {
	s.mu.Lock()
	cols := s.columns
	s.mu.Unlock()
	if cols != "" && !fresh {
		return cols, nil
	}
	rows, err := s.db.QueryContext(ctx, "SELECT * FROM "+s.quoted+" WHERE 1=0")
	if err != nil {
		return "", s.wrap(err)
	}
	names, err := rows.Columns()
	rows.Close()
	if err != nil {
		return "", s.wrap(err)
	}
	have := map[string]bool{}
	for _, n := range names {
		have[strings.ToLower(n)] = true
	}
	var missing []string
	for _, c := range []string{"id", "key", "secret"} {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%s table %s: no column %s (columns: %s)", s.name, s.table, strings.Join(missing, ", "), strings.Join(names, ", "))
	}
	list := []string{s.quote("id"), s.quote("key"), s.quote("secret")}
	if have["enabled"] {
		// NULL is Sockudo's default, TRUE.
		list = append(list, "COALESCE("+s.quote("enabled")+", TRUE)")
	} else {
		list = append(list, "TRUE")
	}
	for _, c := range []string{"webhooks", "policy"} {
		switch {
		case !have[c]:
			list = append(list, "NULL")
		case s.name == config.DriverPostgres:
			// JSONB (or JSON, or TEXT) as its JSON text.
			list = append(list, s.quote(c)+"::text")
		default:
			list = append(list, s.quote(c))
		}
	}
	cols = strings.Join(list, ", ")
	s.mu.Lock()
	s.columns = cols
	s.mu.Unlock()
	return cols, nil
}

func (s *SQLSource) wrap(err error) error {
	return fmt.Errorf("%s table %s: %w", s.name, s.table, err)
}

// Load implements Source: one SELECT of every row. The table's columns are
// read again first, so a column Sockudo added since the last read is used.
func (s *SQLSource) Load(ctx context.Context, cfg *config.Config) ([]config.App, []error, error) {
	cols, err := s.selectList(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+cols+" FROM "+s.quoted)
	if err != nil {
		return nil, nil, s.wrap(err)
	}
	defer rows.Close()
	var apps []config.App
	var skipped []error
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, nil, s.wrap(err)
		}
		app, err := s.resolve(cfg, rec)
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		apps = append(apps, app)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, s.wrap(err)
	}
	return apps, skipped, nil
}

// AppByID implements Source.
func (s *SQLSource) AppByID(ctx context.Context, cfg *config.Config, id string) (config.App, bool, error) {
	return s.lookUp(ctx, cfg, "id", id)
}

// AppByKey implements Source.
func (s *SQLSource) AppByKey(ctx context.Context, cfg *config.Config, key string) (config.App, bool, error) {
	return s.lookUp(ctx, cfg, "key", key)
}

func (s *SQLSource) lookUp(ctx context.Context, cfg *config.Config, column, v string) (config.App, bool, error) {
	if v == "" {
		return config.App{}, false, nil
	}
	cols, err := s.selectList(ctx, false)
	if err != nil {
		return config.App{}, false, err
	}
	row := s.db.QueryRowContext(ctx, "SELECT "+cols+" FROM "+s.quoted+" WHERE "+s.quote(column)+" = "+s.placeID, v)
	rec, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return config.App{}, false, nil
	}
	if err != nil {
		return config.App{}, false, s.wrap(err)
	}
	// MySQL compares with the column's collation, case-insensitively by
	// default: a key must match exactly, as in the snapshot.
	if (column == "id" && rec.ID != v) || (column == "key" && rec.Key != v) {
		return config.App{}, false, nil
	}
	app, err := s.resolve(cfg, rec)
	if err != nil {
		return config.App{}, false, err
	}
	return app, true, nil
}

func (s *SQLSource) resolve(cfg *config.Config, rec config.AppRecord) (config.App, error) {
	app, _, err := cfg.AppFromRecord(rec, config.RecordPath(s.table, rec.ID))
	return app, err
}

type scanner interface{ Scan(dest ...any) error }

func scanRecord(r scanner) (config.AppRecord, error) {
	var rec config.AppRecord
	var key, secret sql.NullString
	var hooks, policy []byte
	if err := r.Scan(&rec.ID, &key, &secret, &rec.Enabled, &hooks, &policy); err != nil {
		return rec, err
	}
	rec.Key, rec.Secret = key.String, secret.String
	rec.Webhooks, rec.Policy = hooks, policy // copies: Scan into *[]byte copies
	return rec, nil
}
