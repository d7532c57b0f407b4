// Package dbtest starts the real database servers the app-registry tests
// read from: PostgreSQL and MariaDB from the machine's packages, each once
// per test process, on 127.0.0.1 and a free port, with their data in a
// temporary directory (fsync off). scripts/test-deps installs them; `make
// test` runs it.
//
// Each server has a superuser connection (Admin) for the tests to create
// tables with, and a login, Reader, that has no privileges until a test
// grants it SELECT: Hookline only ever reads.
//
// When a server's programs are missing, tests skip with instructions, or,
// when the CI environment variable is non-empty, fail: integration tests
// never skip silently in CI.
package dbtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hookline/hookline/config"
)

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 20 * time.Second
	// Database is the database the servers have for the tests (Sockudo's
	// default name).
	Database = "sockudo"
	// Reader and ReaderPassword are the read-only login.
	Reader         = "hookline"
	ReaderPassword = "reader-Pa$$word:@/?"
	adminPassword  = "admin-secret"
)

// Server is a running database server.
type Server struct {
	// Kind is "postgres" or "mariadb".
	Kind string
	Port int
	// Admin is a superuser connection to Database.
	Admin *sql.DB

	dir   string
	start func() (*exec.Cmd, error) // starts the server process
	ready func(ctx context.Context) error

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil when not running
	exited chan struct{} // closed when cmd has exited
	log    string
}

// Settings returns the connection settings of the read-only login, as
// database.postgres or database.mysql would hold them.
func (s *Server) Settings() config.SQLDatabase {
	return config.SQLDatabase{Host: "127.0.0.1", Port: s.Port, Username: Reader, Password: config.Secret(ReaderPassword),
		Database: Database, TableName: "applications", PoolMax: 4}
}

// Exec runs statements as the superuser, failing the test on an error.
func (s *Server) Exec(tb testing.TB, stmts ...string) {
	tb.Helper()
	for _, q := range stmts {
		if _, err := s.Admin.Exec(q); err != nil {
			tb.Fatalf("%s: %s: %v", s.Kind, q, err)
		}
	}
}

// Stop stops the server (as an outage would) and returns a function that
// starts it again on the same port, with the same data, and waits until it
// accepts connections.
func (s *Server) Stop(tb testing.TB) (restart func()) {
	tb.Helper()
	if err := s.stop(); err != nil {
		tb.Fatalf("%s: stop: %v", s.Kind, err)
	}
	return func() {
		tb.Helper()
		if err := s.run(); err != nil {
			tb.Fatalf("%s: restart: %v", s.Kind, err)
		}
		// The superuser's pooled connections died with the server.
		s.Admin.SetMaxIdleConns(0)
		s.Admin.SetMaxIdleConns(2)
	}
}

func (s *Server) run() error {
	cmd, err := s.start()
	if err != nil {
		return err
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		last := s.ready(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before accepting connections (%v); log:\n%s", waitErr, tail(s.log))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("not accepting connections after %s (%v); log:\n%s", startTimeout, last, tail(s.log))
		case <-time.After(100 * time.Millisecond): // polling a starting server: it signals nothing
		}
	}
}

// stop stops the server process, if it runs, and waits for its exit.
func (s *Server) stop() error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd, s.exited = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	// PostgreSQL: SIGINT is a fast shutdown; MariaDB: SIGTERM.
	sig := syscall.SIGTERM
	if s.Kind == "postgres" {
		sig = syscall.SIGINT
	}
	_ = cmd.Process.Signal(sig) // an error: it is gone already
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("still running %s after the signal: killed", stopTimeout)
	}
}

var (
	mu      sync.Mutex
	servers = map[string]*Server{}
	errs    = map[string]error{}
)

// unavailable is a missing program: tests skip, or fail in CI.
type unavailable struct{ reason string }

func (e *unavailable) Error() string { return e.reason }

func get(tb testing.TB, kind string, start func() (*Server, error)) *Server {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	s, err := servers[kind], errs[kind]
	if s == nil && err == nil {
		s, err = start()
		servers[kind], errs[kind] = s, err
	}
	var u *unavailable
	switch {
	case errors.As(err, &u):
		if os.Getenv("CI") != "" {
			tb.Fatalf("dbtest: CI is set, but there is no %s for the app-registry tests: %s. Fix the CI job: "+
				"run scripts/test-deps (`make test` does).", kind, u.reason)
		}
		tb.Skipf("dbtest: skipping: %s. To enable: run scripts/test-deps as root (or `make test`), "+
			"which installs the Debian packages postgresql and mariadb-server.", u.reason)
	case err != nil:
		tb.Fatalf("dbtest: start %s: %v", kind, err)
	}
	return s
}

// StopAll stops the servers started by this process and removes their data.
func StopAll() {
	mu.Lock()
	defer mu.Unlock()
	for kind, s := range servers {
		if err := s.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: %s: %v\n", kind, err)
		}
		_ = s.Admin.Close()
		_ = os.RemoveAll(s.dir)
		delete(servers, kind)
	}
}

// RunTests runs the tests, then stops the servers. Use it from TestMain.
func RunTests(m *testing.M) int {
	defer StopAll()
	return m.Run()
}

// Postgres returns the PostgreSQL server of this test process, starting it
// on first use. HOOKLINE_PG_BINDIR names the directory of initdb and
// postgres; the default is the newest /usr/lib/postgresql/*/bin, else PATH.
func Postgres(tb testing.TB) *Server { return get(tb, "postgres", startPostgres) }

// MariaDB returns the MariaDB (or MySQL) server of this test process,
// starting it on first use.
func MariaDB(tb testing.TB) *Server { return get(tb, "mariadb", startMariaDB) }

func pgBinDir() (string, error) {
	if d := os.Getenv("HOOKLINE_PG_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", &unavailable{"no PostgreSQL server (initdb, postgres) in /usr/lib/postgresql/*/bin or on PATH"}
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// asUser runs cmd as the postgres OS user when this process is root
// (PostgreSQL refuses to run as root) and returns the ids files must be
// owned by; -1 when nothing changes.
func asUser(cmd *exec.Cmd, name string) (uid, gid int, err error) {
	if os.Geteuid() != 0 {
		return -1, -1, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, &unavailable{fmt.Sprintf("running as root, and there is no OS user %q to run the server as: %v", name, err)}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if cmd != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	return uid, gid, nil
}

func startPostgres() (*Server, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	uid, gid, err := asUser(nil, "postgres")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hookline-pg-")
	if err != nil {
		return nil, err
	}
	data, pw := filepath.Join(dir, "data"), filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(adminPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	if uid >= 0 {
		for _, p := range []string{dir, pw} {
			if err := os.Chown(p, uid, gid); err != nil {
				return nil, err
			}
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "admin", "--pwfile="+pw,
		"--auth=scram-sha-256", "-E", "UTF8", "--no-sync", "--locale=C")
	if _, _, err := asUser(initdb, "postgres"); err != nil {
		return nil, err
	}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Kind: "postgres", Port: port, dir: dir, log: filepath.Join(dir, "server.log")}
	s.start = func() (*exec.Cmd, error) {
		cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off",
			"-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=60")
		if _, _, err := asUser(cmd, "postgres"); err != nil {
			return nil, err
		}
		return startLogged(cmd, s.log)
	}
	dsn := func(db string) string {
		return fmt.Sprintf("postgres://admin:%s@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=2", adminPassword, port, db)
	}
	s.ready = func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, dsn("postgres"))
		if err != nil {
			return err
		}
		return c.Close(ctx)
	}
	if err := s.run(); err != nil {
		return nil, err
	}
	if err := s.setUp(func() (*sql.DB, error) { return sql.Open("pgx", dsn("postgres")) }, []string{
		"CREATE DATABASE " + Database,
		"CREATE ROLE " + Reader + " LOGIN PASSWORD '" + strings.ReplaceAll(ReaderPassword, "'", "''") + "'",
	}); err != nil {
		return nil, err
	}
	pc, err := pgx.ParseConfig(dsn(Database))
	if err != nil {
		_ = s.stop()
		return nil, err
	}
	s.Admin = stdlib.OpenDB(*pc)
	return s, nil
}

func lookPath(names ...string) (string, error) {
	for _, n := range names {
		for _, p := range []string{n, "/usr/sbin/" + n, "/usr/bin/" + n} {
			if path, err := exec.LookPath(p); err == nil {
				return path, nil
			}
		}
	}
	return "", &unavailable{fmt.Sprintf("none of %s is installed", strings.Join(names, ", "))}
}

func startMariaDB() (*Server, error) {
	server, err := lookPath("mariadbd", "mysqld")
	if err != nil {
		return nil, err
	}
	install, err := lookPath("mariadb-install-db", "mysql_install_db")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hookline-mariadb-")
	if err != nil {
		return nil, err
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	var asRoot []string
	if os.Geteuid() == 0 {
		asRoot = []string{"--user=root"}
	}
	args := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
		"--skip-test-db"}, asRoot...)
	if out, err := exec.Command(install, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", install, err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Kind: "mariadb", Port: port, dir: dir, log: filepath.Join(dir, "server.log")}
	s.start = func() (*exec.Cmd, error) {
		args := append([]string{"--no-defaults", "--datadir=" + data, "--socket=" + sock, "--port=" + strconv.Itoa(port),
			"--bind-address=127.0.0.1", "--skip-name-resolve", "--skip-log-bin", "--pid-file=" + filepath.Join(dir, "pid"),
			"--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=0", "--performance-schema=OFF"}, asRoot...)
		return startLogged(exec.Command(server, args...), s.log)
	}
	admin := func(db string) *sql.DB {
		mc := mysql.NewConfig()
		mc.User, mc.Net, mc.Addr, mc.DBName, mc.Timeout = "root", "unix", sock, db, 2*time.Second
		conn, _ := mysql.NewConnector(mc)
		return sql.OpenDB(conn)
	}
	s.ready = func(ctx context.Context) error {
		db := admin("")
		defer db.Close()
		return db.PingContext(ctx)
	}
	if err := s.run(); err != nil {
		return nil, err
	}
	if err := s.setUp(func() (*sql.DB, error) { return admin(""), nil }, []string{
		"CREATE DATABASE " + Database,
		"CREATE USER '" + Reader + "'@'%' IDENTIFIED BY '" + strings.ReplaceAll(ReaderPassword, "'", "''") + "'",
	}); err != nil {
		return nil, err
	}
	s.Admin = admin(Database)
	return s, nil
}

// setUp runs the first statements on a started server; on an error it
// stops the server, which no one else would.
func (s *Server) setUp(open func() (*sql.DB, error), stmts []string) error {
	err := func() error {
		db, err := open()
		if err != nil {
			return err
		}
		defer db.Close()
		for _, q := range stmts {
			if _, err := db.Exec(q); err != nil {
				return fmt.Errorf("%s: %v", q, err)
			}
		}
		return nil
	}()
	if err != nil {
		_ = s.stop()
	}
	return err
}

func startLogged(cmd *exec.Cmd, log string) (*exec.Cmd, error) {
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %v", cmd.Path, err)
	}
	return cmd, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

var tableSeq atomic.Int64

// AppsTable creates a table laid out as Sockudo creates it (the columns
// Hookline reads, and some it does not), dropping one of that name first,
// fills it with rows and grants Reader SELECT on it. An empty name is a new
// unique one. Without policy, the table is that of a Sockudo from before
// the policy column. It returns the name.
func (s *Server) AppsTable(tb testing.TB, name string, rows []config.AppRecord, policy bool) string {
	tb.Helper()
	if name == "" {
		name = fmt.Sprintf("applications_%d", tableSeq.Add(1))
	}
	q, jsonType := `"`, "JSONB"
	if s.Kind == "mariadb" {
		q, jsonType = "`", "JSON"
	}
	cols := []string{"id VARCHAR(255) PRIMARY KEY", q + "key" + q + " VARCHAR(255) UNIQUE NOT NULL", "secret VARCHAR(255) NOT NULL",
		"max_connections INTEGER NOT NULL DEFAULT 100", "enable_client_messages BOOLEAN DEFAULT FALSE",
		"enabled BOOLEAN DEFAULT TRUE", "webhooks " + jsonType}
	if policy {
		cols = append(cols, "policy "+jsonType)
	}
	s.Exec(tb, "DROP TABLE IF EXISTS "+name, "CREATE TABLE "+name+" ("+strings.Join(cols, ", ")+")",
		"GRANT SELECT ON "+name+" TO "+Reader)
	s.Insert(tb, name, policy, rows...)
	return name
}

// Insert adds rows to a table made by AppsTable, as Sockudo writes them:
// webhooks and policy as JSON, NULL when nil.
func (s *Server) Insert(tb testing.TB, table string, policy bool, rows ...config.AppRecord) {
	tb.Helper()
	q, place := `"`, func(i int) string { return fmt.Sprintf("$%d", i) }
	if s.Kind == "mariadb" {
		q, place = "`", func(int) string { return "?" }
	}
	for _, r := range rows {
		names := "id, " + q + "key" + q + ", secret, enabled, webhooks"
		args := []any{r.ID, r.Key, r.Secret, r.Enabled, nullJSON(r.Webhooks)}
		if policy {
			names += ", policy"
			args = append(args, nullJSON(r.Policy))
		}
		var ps []string
		for i := range args {
			ps = append(ps, place(i+1))
		}
		if _, err := s.Admin.Exec("INSERT INTO "+table+" ("+names+") VALUES ("+strings.Join(ps, ", ")+")", args...); err != nil {
			tb.Fatalf("%s: insert %s into %s: %v", s.Kind, r.ID, table, err)
		}
	}
}

func nullJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}
