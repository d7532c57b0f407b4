package receiver

import "github.com/hookline/hookline/config"

// Apps resolves an app by its key, the X-Pusher-Key header. It is the only
// thing Verify needs from an app registry.
type Apps interface {
	// SecretForKey returns the id and signing secret of the app with that
	// key, or ok false when no app has it.
	SecretForKey(key string) (appID, secret string, ok bool)
}

// App is one app of a StaticApps registry.
type App struct {
	ID     string
	Secret string
}

// StaticApps is an Apps from a map of key to app, for tests and examples:
//
//	receiver.StaticApps{"app-key": {ID: "app-1", Secret: "secret"}}
type StaticApps map[string]App

var _ Apps = StaticApps(nil)

// SecretForKey implements Apps.
func (s StaticApps) SecretForKey(key string) (appID, secret string, ok bool) {
	a, ok := s[key]
	return a.ID, a.Secret, ok
}

// AppsFromConfig adapts a loaded configuration to Apps. Every app of cfg is
// resolved, including disabled ones: enablement decides what a worker
// sends, not whether a signature is valid. An app with an empty secret
// resolves, but no signature verifies against it.
func AppsFromConfig(cfg *config.Config) Apps { return configApps{cfg} }

type configApps struct{ cfg *config.Config }

func (c configApps) SecretForKey(key string) (appID, secret string, ok bool) {
	if c.cfg == nil || key == "" {
		return "", "", false
	}
	a := c.cfg.AppByKey(key)
	if a == nil {
		return "", "", false
	}
	return a.ID, a.Secret.Reveal(), true
}
