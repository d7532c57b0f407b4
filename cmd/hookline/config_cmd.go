package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookline/hookline/config"
)

func newConfigCmd(e *env, g *globalFlags) *cobra.Command {
	var offline bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the configuration",
	}
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the config file and print it resolved, secrets redacted",
		Long: `Validate the config file with every environment override and flag applied,
then print the resolved configuration as JSON with app secrets and custom
header values redacted. Warnings and notes go to stderr. Exits 1 on any error;
each error names its JSON path (or environment variable) and the value.

With a database app manager (app_manager.driver pgsql, mysql or dynamodb) it
also reads the apps table, as the worker would, and reports every row it
would skip (named by its id, with the JSON path); --offline skips the read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(e)
			if cfg != nil {
				for _, w := range cfg.Warnings {
					fmt.Fprintln(e.stderr, "warning:", w)
				}
			}
			if err != nil {
				var errs config.Errors
				if errors.As(err, &errs) {
					fmt.Fprintf(e.stderr, "%s: %d error(s):\n", g.configPath, len(errs))
					for _, fe := range errs {
						fmt.Fprintln(e.stderr, "  "+fe.Error())
					}
					return exitError{1}
				}
				return err
			}
			dbApps := 0
			if cfg.AppManager.Driver != config.DriverMemory && !offline {
				n, warnings, skipped, err := checkDatabase(cmd.Context(), cfg)
				if err != nil {
					return err
				}
				for _, w := range warnings {
					fmt.Fprintln(e.stderr, "warning:", w)
				}
				if len(skipped) > 0 {
					fmt.Fprintf(e.stderr, "%s: %d row(s) of the %s table would be skipped:\n", g.configPath, len(skipped), cfg.AppManager.Driver)
					for _, err := range skipped {
						fmt.Fprintln(e.stderr, "  "+err.Error())
					}
					return exitError{1}
				}
				dbApps = n
			}
			for _, n := range notes(cfg) {
				fmt.Fprintln(e.stderr, "note:", n)
			}
			if err := cfg.WriteRedacted(e.stdout); err != nil {
				return err
			}
			if cfg.AppManager.Driver != config.DriverMemory {
				read := fmt.Sprintf("%d apps read from the %s table", dbApps, cfg.AppManager.Driver)
				if offline {
					read = cfg.AppManager.Driver + " table not read (--offline)"
				}
				fmt.Fprintf(e.stderr, "%s: OK (%d apps in the file, %d webhooks; %s)\n", g.configPath, len(cfg.Apps), countWebhooks(cfg), read)
				return nil
			}
			fmt.Fprintf(e.stderr, "%s: OK (%d apps, %d webhooks)\n", g.configPath, len(cfg.Apps), countWebhooks(cfg))
			return nil
		},
	}
	check.Flags().BoolVar(&offline, "offline", false, "do not read a database app registry; check the file only")
	cmd.AddCommand(check)
	return cmd
}

// notes are facts about a valid config an operator should know.
func notes(cfg *config.Config) []string {
	var out []string
	for _, a := range cfg.Apps {
		for _, wh := range a.Webhooks {
			if wh.Lambda != nil && wh.Lambda.InvocationType == "Event" {
				out = append(out, fmt.Sprintf("%s: invocation_type Event: a 202 only means Lambda queued the event; "+
					"Lambda then retries on its own. Use \"RequestResponse\" when delivery must be confirmed.", wh.Path))
			}
		}
	}
	return out
}

func countWebhooks(cfg *config.Config) int {
	n := 0
	for _, a := range cfg.Apps {
		n += len(a.Webhooks)
	}
	return n
}

// checkDatabase reads the database registry once, as the worker's first
// read would, and returns the warnings of the rows it serves.
func checkDatabase(ctx context.Context, cfg *config.Config) (apps int, warnings []string, skipped []error, err error) {
	src, err := openSource(ctx, cfg)
	if err != nil {
		return 0, nil, nil, err
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	list, skipped, err := src.Load(ctx, cfg)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading the %s app registry: %w (--offline checks the file only)", src.Name(), err)
	}
	for _, a := range list {
		warnings = append(warnings, a.Warnings...)
	}
	sort.Strings(warnings)
	return len(list), warnings, skipped, nil
}
