package main

import (
	"context"
	"fmt"

	"github.com/hookline/hookline/config"
	"github.com/hookline/hookline/registry"
)

// openDatabase returns the source of a database driver.
func openDatabase(_ context.Context, cfg *config.Config) (registry.Source, error) {
	return nil, fmt.Errorf("app_manager.driver %q: this build has no database source yet", cfg.AppManager.Driver)
}
