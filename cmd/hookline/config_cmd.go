package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hookline/hookline/config"
)

func newConfigCmd(e *env, g *globalFlags) *cobra.Command {
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
each error names its JSON path (or environment variable) and the value.`,
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
			for _, n := range notes(cfg) {
				fmt.Fprintln(e.stderr, "note:", n)
			}
			if err := cfg.WriteRedacted(e.stdout); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "%s: OK (%d apps, %d webhooks)\n", g.configPath, len(cfg.Apps), countWebhooks(cfg))
			return nil
		},
	}
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
