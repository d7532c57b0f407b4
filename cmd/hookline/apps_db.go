package main

import (
	"context"
	"fmt"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/registry"
)

// openDatabase returns the source of a database driver. It does not
// connect: the first read does.
func openDatabase(ctx context.Context, cfg *config.Config) (registry.Source, error) {
	switch cfg.AppManager.Driver {
	case config.DriverPostgres:
		return registry.NewPostgres(cfg.Database.Postgres)
	case config.DriverMySQL:
		return registry.NewMySQL(cfg.Database.MySQL)
	case config.DriverDynamoDB:
		return registry.NewDynamoDB(ctx, cfg.Database.DynamoDB)
	}
	return nil, fmt.Errorf("app_manager.driver %q: no such app registry", cfg.AppManager.Driver)
}
